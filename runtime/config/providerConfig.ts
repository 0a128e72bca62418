// Which providers serve each channel, in failover order, with their breaker, rate and window: from
// SWITCHBOARD_PROVIDERS (JSON) or, when it is unset, from the infrastructure variables.
import { z } from 'zod';
import { CHANNELS, type Channel } from '../messages/sendRequest.ts';

/** `sink` takes every message and sends nothing (load tests, dry runs). */
export const PROVIDER_TYPES = ['smtp', 'sns', 'webhook', 'dev-outbox', 'sink'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

const providerSpecSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'a lower-case name of letters, digits and -' }),
    type: z.enum(PROVIDER_TYPES),
    /** smtp: the server; webhook: a fixed endpoint (a vendor), else each message's `to.url`. */
    url: z.url().optional(),
    /** webhook: the HMAC-SHA256 secret of X-Switchboard-Signature. */
    secret: z.string().min(16).optional(),
    timeoutMs: z.number().int().positive().default(10_000),
    breaker: z
      .object({
        errorThresholdPercentage: z.number().min(1).max(100).default(50),
        resetTimeoutMs: z.number().int().positive().default(30_000),
        volumeThreshold: z.number().int().min(0).default(10),
      })
      .strict()
      .default({ errorThresholdPercentage: 50, resetTimeoutMs: 30_000, volumeThreshold: 10 }),
    rate: z
      .object({ perSecond: z.number().positive().default(200), burst: z.number().int().min(1).default(200) })
      .strict()
      .default({ perSecond: 200, burst: 200 }),
    window: z.number().int().min(1).max(10_000).default(32),
    /** smtp: connections in the pool (the in-flight window is shared among them). */
    connections: z.number().int().min(1).max(100).default(5),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.type === 'smtp' && !spec.url?.startsWith('smtp')) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'an smtp provider needs url smtp://host:port' });
    }
    if (spec.type === 'webhook' && spec.secret === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'a webhook provider needs a secret of 16+ characters',
      });
    }
  });

export type ProviderSpec = z.output<typeof providerSpecSchema>;

export type ProvidersByChannel = Readonly<Record<Channel, readonly ProviderSpec[]>>;

const providersSchema = z
  .object(Object.fromEntries(CHANNELS.map((channel) => [channel, z.array(providerSpecSchema).min(1).optional()])))
  .strict();

/** What the defaults are derived from. */
export type ProviderDefaults = {
  readonly smtpUrl: string | undefined;
  /** True when SNS is configured (AWS_REGION or AWS_ENDPOINT_URL_SNS). */
  readonly sns: boolean;
  readonly webhookSecret: string | undefined;
};

const DEV_OUTBOX: ProviderSpec = providerSpecSchema.parse({ name: 'dev-outbox', type: 'dev-outbox' });

/**
 * Parses SWITCHBOARD_PROVIDERS; channels it leaves out get the defaults.
 * @returns the specs, or the first problem as `{ path, message }`.
 */
export function parseProviders(
  json: string | undefined,
  defaults: ProviderDefaults,
): { ok: true; providers: ProvidersByChannel } | { ok: false; message: string } {
  let given: Partial<Record<Channel, ProviderSpec[]>> = {};
  if (json !== undefined && json.trim() !== '') {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      return {
        ok: false,
        message: 'JSON like {"email":[{"name":"smtp-primary","type":"smtp","url":"smtp://host:25"}]}',
      };
    }
    const parsed = providersSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return { ok: false, message: `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
    }
    given = parsed.data;
  }
  const sns = providerSpecSchema.parse({ name: 'sns', type: 'sns' });
  const fallback: Record<Channel, ProviderSpec[]> = {
    email: defaults.smtpUrl
      ? [providerSpecSchema.parse({ name: 'smtp-primary', type: 'smtp', url: defaults.smtpUrl })]
      : [DEV_OUTBOX],
    sms: defaults.sns ? [sns] : [DEV_OUTBOX],
    push: defaults.sns ? [sns] : [DEV_OUTBOX],
    webhook: defaults.webhookSecret
      ? [providerSpecSchema.parse({ name: 'http', type: 'webhook', secret: defaults.webhookSecret })]
      : [DEV_OUTBOX],
  };
  const providers = Object.fromEntries(
    CHANNELS.map((channel) => [channel, given[channel] ?? fallback[channel]]),
  ) as Record<Channel, ProviderSpec[]>;
  return { ok: true, providers };
}
