// A message as stored: its row shape, the columns read, and the mapping to the typed view.
import { sql } from 'slonik';
import { z } from 'zod';
import { MESSAGE_STATES, type MessageState } from './messageState.ts';
import { CHANNELS, type Channel, PRIORITIES, type SendRequest } from './sendRequest.ts';

export type StoredMessage = {
  readonly id: string;
  readonly tenant: string;
  readonly idempotencyKey: string | null;
  readonly channel: Channel;
  readonly priority: SendRequest['priority'];
  readonly to: SendRequest['to'];
  readonly content: SendRequest['content'] | null;
  readonly template: SendRequest['template'] | null;
  readonly metadata: Record<string, unknown> | null;
  readonly campaignId: string | null;
  readonly sendAt: string | null;
  readonly state: MessageState;
  readonly attempts: number;
  readonly provider: string | null;
  readonly lastError: string | null;
  /** The recipient's own sequence number for this message, once the recipient has taken it. */
  readonly recipientSeq: number | null;
  readonly createdAt: string;
  readonly updatedAt: string;
};

// slonik returns timestamptz as epoch milliseconds and int8 as bigint, and validates rows without
// applying transforms: conversions happen in toStoredMessage.
export const epochMs = z.number();
export const iso = (ms: number): string => new Date(ms).toISOString();

export const messageRow = z.object({
  id: z.string(),
  tenant: z.string(),
  idempotency_key: z.string().nullable(),
  channel: z.enum(CHANNELS),
  priority: z.enum(PRIORITIES),
  recipient: z.record(z.string(), z.unknown()),
  content: z.record(z.string(), z.unknown()).nullable(),
  template: z.record(z.string(), z.unknown()).nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  campaign_id: z.string().nullable(),
  send_at: epochMs.nullable(),
  state: z.enum(MESSAGE_STATES),
  attempts: z.number(),
  provider: z.string().nullable(),
  last_error: z.string().nullable(),
  recipient_seq: z.bigint().nullable(),
  created_at: epochMs,
  updated_at: epochMs,
});

export type MessageRow = z.output<typeof messageRow>;

export const MESSAGE_COLUMNS = sql.fragment`id, tenant, idempotency_key, channel, priority, recipient, content, template,
  metadata, campaign_id, send_at, state, attempts, provider, last_error, recipient_seq, created_at, updated_at`;

export function toStoredMessage(row: MessageRow): StoredMessage {
  return {
    id: row.id,
    tenant: row.tenant,
    idempotencyKey: row.idempotency_key,
    channel: row.channel,
    priority: row.priority,
    to: row.recipient as SendRequest['to'],
    content: row.content,
    template: row.template as SendRequest['template'] | null,
    metadata: row.metadata,
    campaignId: row.campaign_id,
    sendAt: row.send_at === null ? null : iso(row.send_at),
    state: row.state,
    attempts: row.attempts,
    provider: row.provider,
    lastError: row.last_error,
    recipientSeq: row.recipient_seq === null ? null : Number(row.recipient_seq),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
