// Durable acceptance of a batch of sends in one statement (one transaction): the messages, each with
// its content hash for dedupe. The `accepted` transition is the row itself (its time is `created_at`),
// so no event row is written for it. A repeated (tenant, idempotencyKey) — within the batch or against an earlier one —
// answers the first message's id and writes nothing.
import { randomUUID } from 'node:crypto';
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { contentHash } from '../policy/contentHash.ts';
import type { SendRequest } from './sendRequest.ts';

export type AcceptItem = { readonly tenant: string; readonly request: SendRequest };

export type AcceptResult = { readonly id: string; readonly created: boolean };

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
  'text',
] as const;

const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

/** Writes the batch; returns one result per item, in order. */
export async function acceptBatch(pool: DatabasePool, items: readonly AcceptItem[]): Promise<AcceptResult[]> {
  const ids = items.map(() => randomUUID());
  // Within the batch the first occurrence of a key is the one written; later ones point at it.
  const firstOfKey = new Map<string, number>();
  const duplicateOf = new Map<number, number>();
  const written: number[] = [];
  items.forEach((item, i) => {
    const key = item.request.idempotencyKey;
    if (key !== undefined) {
      const composite = `${item.tenant}\u0000${key}`;
      const first = firstOfKey.get(composite);
      if (first !== undefined) {
        duplicateOf.set(i, first);
        return;
      }
      firstOfKey.set(composite, i);
    }
    written.push(i);
  });

  const tuples = written.map((i) => {
    const { tenant, request } = items[i] as AcceptItem;
    return [
      ids[i] as string,
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
      // Whole milliseconds, as the scheduler's cursor reads them back.
      request.sendAt === undefined ? null : new Date(request.sendAt).toISOString(),
      contentHash(request),
    ];
  });

  return pool.transaction(async (tx) => {
    const inserted = new Set(
      await tx.anyFirst(sql.type(z.object({ id: z.string() }))`
        WITH input AS (
          SELECT * FROM ${sql.unnest(tuples, [...COLUMN_TYPES])}
            AS t(id, tenant, idempotency_key, channel, priority, recipient_id, recipient, content, template, metadata,
                 campaign_id, send_at, content_hash)
        ), inserted AS (
          INSERT INTO messages (id, tenant, idempotency_key, channel, priority, recipient_id, recipient, content, template,
                                metadata, campaign_id, send_at, content_hash, state)
          SELECT id, tenant, idempotency_key, channel, priority, recipient_id, recipient, content, template, metadata,
                 campaign_id, send_at, content_hash, 'accepted'
            FROM input
          ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
          RETURNING id
        )
        SELECT id FROM inserted`),
    );

    const results = new Array<AcceptResult | undefined>(items.length);
    const conflicted: number[] = [];
    for (const i of written) {
      if (inserted.has(ids[i] as string)) results[i] = { id: ids[i] as string, created: true };
      else conflicted.push(i);
    }
    if (conflicted.length > 0) {
      const keys = conflicted.map((i) => [
        (items[i] as AcceptItem).tenant,
        (items[i] as AcceptItem).request.idempotencyKey ?? '',
      ]);
      const existing = await tx.any(sql.type(
        z.object({ id: z.string(), tenant: z.string(), idempotency_key: z.string() }),
      )`
        SELECT m.id, m.tenant, m.idempotency_key
          FROM messages m
          JOIN ${sql.unnest(keys, ['text', 'text'])} AS k(tenant, idempotency_key)
            ON m.tenant = k.tenant AND m.idempotency_key = k.idempotency_key`);
      const byKey = new Map(existing.map((row) => [`${row.tenant}\u0000${row.idempotency_key}`, row.id]));
      for (const i of conflicted) {
        const item = items[i] as AcceptItem;
        const id = byKey.get(`${item.tenant}\u0000${item.request.idempotencyKey ?? ''}`);
        if (id === undefined) throw new Error(`idempotency conflict without a stored message for item ${i}`);
        results[i] = { id, created: false };
      }
    }
    for (const [i, first] of duplicateOf) {
      const id = results[first]?.id;
      if (id === undefined) throw new Error(`duplicate item ${i} has no first occurrence`);
      results[i] = { id, created: false };
    }
    return results.map((result, i) => {
      if (result === undefined) throw new Error(`no result for item ${i}`);
      return result;
    });
  });
}
