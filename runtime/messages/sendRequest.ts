// The body of `POST /v1/messages` (and of a Kafka or RabbitMQ send request), parsed into a typed send.
import { z } from 'zod';
import { isTimeZone } from '../policy/quietHours.ts';

export const CHANNELS = ['email', 'sms', 'push', 'webhook'] as const;
export type Channel = (typeof CHANNELS)[number];

/** The field of `to` each channel sends to. */
export const ADDRESS_FIELD = { email: 'email', sms: 'phone', push: 'pushTarget', webhook: 'url' } as const;

export const PRIORITIES = ['transactional', 'marketing'] as const;
export type Priority = (typeof PRIORITIES)[number];

const E164 = /^\+[1-9]\d{6,14}$/;

export const recipientSchema = z
  .object({
    id: z.string().min(1).max(256),
    email: z.email().max(320).optional(),
    phone: z.string().regex(E164, { message: 'a phone number in E.164 form, like +447700900123' }).optional(),
    pushTarget: z.string().min(1).max(2048).optional(),
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional(),
    /** The recipient's IANA time zone (quiet hours are in it); the configured default when absent. */
    timeZone: z
      .string()
      .max(64)
      .refine(isTimeZone, { message: 'an IANA time zone name, like Europe/London' })
      .optional(),
  })
  .strict();

const contentSchema = z
  .object({
    subject: z.string().max(998).optional(),
    text: z.string().max(512_000).optional(),
    html: z.string().max(512_000).optional(),
  })
  .strict();

export const sendRequestSchema = z
  .object({
    idempotencyKey: z.string().min(1).max(256).optional(),
    channel: z.enum(CHANNELS),
    to: recipientSchema,
    content: contentSchema.optional(),
    template: z
      .object({ id: z.string().min(1).max(256), vars: z.record(z.string(), z.unknown()).optional() })
      .strict()
      .optional(),
    priority: z.enum(PRIORITIES).default('transactional'),
    sendAt: z.iso.datetime({ offset: true }).optional(),
    campaignId: z.string().min(1).max(256).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((request, ctx) => {
    const field = ADDRESS_FIELD[request.channel];
    if (request.to[field] === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['to', field],
        message: `to.${field} is required for channel ${request.channel}`,
      });
    }
    if (!request.content && !request.template) {
      ctx.addIssue({ code: 'custom', path: ['content'], message: 'either content or template is required' });
    }
    if (request.content && request.template) {
      ctx.addIssue({ code: 'custom', path: ['template'], message: 'give content or template, not both' });
    }
    if (request.content && request.channel === 'email' && !request.content.text && !request.content.html) {
      ctx.addIssue({
        code: 'custom',
        path: ['content'],
        message: 'an email needs content.text or content.html',
      });
    }
    if (request.content && request.channel !== 'email' && !request.content.text) {
      ctx.addIssue({
        code: 'custom',
        path: ['content', 'text'],
        message: `content.text is required for channel ${request.channel}`,
      });
    }
  });

export type SendRequest = z.output<typeof sendRequestSchema>;

/** The `to` of a send: the recipient id and its addresses. */
export type Recipient = z.output<typeof recipientSchema>;

export type InvalidField = { readonly path: string; readonly message: string };

/** Flattens zod's issues into `{ path, message }` pairs for problem documents and dead-letter reasons. */
export function describeIssues(error: z.ZodError): InvalidField[] {
  return error.issues.map((issue) => ({
    path: issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)',
    message: issue.message,
  }));
}
