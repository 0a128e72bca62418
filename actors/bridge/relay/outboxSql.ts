// The relay's statements on the outbox: the oldest unpublished rows, marking a published batch, and
// the backlog figures (count and oldest row) for stats. All of them ride the partial index on id
// WHERE published_at IS NULL, so they stay cheap however large the published history grows.
import { sql } from 'slonik';
import { z } from 'zod';

// slonik returns int8 as bigint and timestamptz as epoch milliseconds, and applies no zod transforms.
export const outboxRow = z.object({
  id: z.bigint(),
  recipient_id: z.string(),
  event: z.unknown(),
  created_at: z.number(),
});

export type OutboxRow = z.output<typeof outboxRow>;

const backlogRow = z.object({ lag: z.bigint(), oldest_at: z.number().nullable() });

export type BacklogRow = z.output<typeof backlogRow>;

/** The oldest `limit` unpublished rows, in id order (the order they were written). */
export function selectUnpublished(limit: number) {
  return sql.type(outboxRow)`
    SELECT id, recipient_id, event, created_at
      FROM outbox
     WHERE published_at IS NULL
     ORDER BY id
     LIMIT ${limit}`;
}

/** Marks rows as published, once every broker has confirmed them. */
export function markPublished(ids: readonly bigint[]) {
  return sql.unsafe`
    UPDATE outbox SET published_at = now()
     WHERE id = ANY(${sql.array(ids, 'int8')}) AND published_at IS NULL`;
}

/** How many rows wait, and when the oldest of them was written. */
export function selectBacklog() {
  return sql.type(backlogRow)`
    SELECT count(*) AS lag,
           (SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1) AS oldest_at
      FROM outbox
     WHERE published_at IS NULL`;
}
