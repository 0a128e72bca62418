// The baseline for durable acceptance: the same rows as acceptance writes (same columns, values built the
// same way as runtime/messages/acceptBatch.ts builds them) put into the messages table by one bare slonik
// `INSERT ... SELECT FROM unnest(...)`, committed on its own: no events, no idempotency check, no queue.
import { randomUUID } from 'node:crypto';
import { type DatabasePool, sql } from 'slonik';
import type { SendRequest } from '../../runtime/messages/sendRequest.ts';

const COLUMN_TYPES = [
  'uuid',
  'text',
  'text',
  'text',
  'text',
  'text',
  'jsonb',
  'jsonb',
  'jsonb',
  'jsonb',
  'text',
  'timestamptz',
];

const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

/** Inserts one row per request into `messages` in state `accepted`, in one statement. */
export async function rawInsert(pool: DatabasePool, tenant: string, requests: readonly SendRequest[]): Promise<void> {
  const tuples = requests.map((request) => [
    randomUUID(),
    tenant,
    request.idempotencyKey ?? null,
    request.channel,
    request.priority,
    request.to.id,
    json(request.to),
    json(request.content),
    json(request.template),
    json(request.metadata),
    request.campaignId ?? null,
    request.sendAt ?? null,
  ]);
  await pool.query(sql.unsafe`
    INSERT INTO messages (id, tenant, idempotency_key, channel, priority, recipient_id, recipient, content, template,
                          metadata, campaign_id, send_at, state)
    SELECT id, tenant, idempotency_key, channel, priority, recipient_id, recipient, content, template, metadata,
           campaign_id, send_at, 'accepted'
      FROM ${sql.unnest(tuples, COLUMN_TYPES)}
        AS t(id, tenant, idempotency_key, channel, priority, recipient_id, recipient, content, template, metadata,
             campaign_id, send_at)`);
}
