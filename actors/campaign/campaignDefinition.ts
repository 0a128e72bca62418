// The body of `POST /v1/campaigns`, parsed into a campaign definition: what to send (content or a
// template), on which channel, to which audience (an S3 object in NDJSON or CSV, or an inline list),
// at what rate and from when.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CHANNELS, PRIORITIES, recipientSchema, sendRequestSchema } from '../../runtime/messages/sendRequest.ts';

export const AUDIENCE_FORMATS = ['ndjson', 'csv'] as const;
export type AudienceFormat = (typeof AUDIENCE_FORMATS)[number];

/** Most recipients in an inline audience; larger audiences belong in an S3 object. */
export const MAX_INLINE_RECIPIENTS = 10_000;

/** Campaign ids are short, so `campaignId:recipientId` fits an idempotency key. */
export const CAMPAIGN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;

/** One audience entry: the recipient (as in a send's `to`) and its template variables. */
export const audienceEntrySchema = recipientSchema.extend({ vars: z.record(z.string(), z.unknown()).optional() });
export type AudienceEntry = z.output<typeof audienceEntrySchema>;

export type AudienceSource =
  | { readonly kind: 's3'; readonly bucket: string; readonly key: string; readonly format: AudienceFormat }
  | { readonly kind: 'inline'; readonly recipients: readonly AudienceEntry[] };

const s3Url = z.string().regex(S3_URL, { message: 'an S3 object URL, like s3://bucket/audiences/spring.ndjson' });

function s3Source(url: string, format: AudienceFormat | undefined): AudienceSource {
  const [, bucket = '', key = ''] = S3_URL.exec(url) ?? [];
  return { kind: 's3', bucket, key, format: format ?? (/\.csv(\.gz)?$/i.test(key) ? 'csv' : 'ndjson') };
}

const inlineList = z.array(audienceEntrySchema).min(1).max(MAX_INLINE_RECIPIENTS);

/**
 * `"s3://bucket/key"`, `{ "url": "s3://…", "format"?: "ndjson" | "csv" }`, `{ "recipients": [...] }`
 * or a bare list of recipients. The format of an S3 object defaults to CSV for `.csv` keys, else NDJSON.
 */
const audienceSchema = z.union([
  s3Url.transform((url) => s3Source(url, undefined)),
  z
    .object({ url: s3Url, format: z.enum(AUDIENCE_FORMATS).optional() })
    .strict()
    .transform(({ url, format }) => s3Source(url, format)),
  z
    .object({ recipients: inlineList })
    .strict()
    .transform(({ recipients }): AudienceSource => ({ kind: 'inline', recipients })),
  inlineList.transform((recipients): AudienceSource => ({ kind: 'inline', recipients })),
]);

export const campaignRequestSchema = z
  .object({
    id: z
      .string()
      .regex(CAMPAIGN_ID, { message: 'letters, digits, _ . - (at most 64), starting with a letter or digit' })
      .optional(),
    name: z.string().min(1).max(200),
    channel: z.enum(CHANNELS),
    content: z.unknown().optional(),
    template: z.unknown().optional(),
    priority: z.enum(PRIORITIES).default('marketing'),
    metadata: z.record(z.string(), z.unknown()).optional(),
    audience: audienceSchema,
    /** Recipients handed to acceptance per second; unthrottled when absent (the channel's pressure still paces). */
    ratePerSecond: z.number().positive().max(1_000_000).optional(),
    startAt: z.iso.datetime({ offset: true }).optional(),
    /** Start at once (or at `startAt`) instead of waiting for `POST …/start`. */
    start: z.boolean().default(false),
  })
  .strict()
  .superRefine((request, ctx) => {
    // Content rules are those of a single send: checked on a send to a placeholder recipient.
    const probeAddress = {
      email: { email: 'probe@example.com' },
      sms: { phone: '+15550000000' },
      push: { pushTarget: 'probe' },
      webhook: { url: 'https://example.com/' },
    }[request.channel];
    const probe = sendRequestSchema.safeParse({
      channel: request.channel,
      to: { id: 'probe', ...probeAddress },
      ...(request.content !== undefined ? { content: request.content } : {}),
      ...(request.template !== undefined ? { template: request.template } : {}),
    });
    if (probe.success) return;
    for (const issue of probe.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

export type CampaignRequest = z.output<typeof campaignRequestSchema>;

/** What a campaign sends, fixed at creation and stored with it. */
export type CampaignDefinition = {
  readonly content?: { subject?: string; text?: string; html?: string };
  readonly template?: { id: string; vars?: Record<string, unknown> };
  readonly priority: (typeof PRIORITIES)[number];
  readonly metadata?: Record<string, unknown>;
  readonly audience: AudienceSource;
  readonly ratePerSecond: number | null;
  readonly startAt: string | null;
};

/** The definition part of a validated request. */
export function toDefinition(request: CampaignRequest): CampaignDefinition {
  return {
    ...(request.content !== undefined ? { content: request.content as CampaignDefinition['content'] } : {}),
    ...(request.template !== undefined ? { template: request.template as CampaignDefinition['template'] } : {}),
    priority: request.priority,
    ...(request.metadata !== undefined ? { metadata: request.metadata } : {}),
    audience: request.audience,
    ratePerSecond: request.ratePerSecond ?? null,
    startAt: request.startAt ?? null,
  };
}

/** A fresh campaign id when the request names none: `cmp_` and 16 base32 characters. */
export function newCampaignId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `cmp_${[...randomBytes(16)].map((byte) => alphabet[byte % 32]).join('')}`;
}

/** `s3://bucket/key` for an S3 audience, `inline (N recipients)` for a list. */
export function describeAudience(source: AudienceSource): string {
  return source.kind === 's3'
    ? `s3://${source.bucket}/${source.key}`
    : `inline (${source.recipients.length} recipients)`;
}
