// Holds accepted messages until a later time (quiet hours): their send_at moves to that time and they
// stay accepted, with an event saying why; many holds share one transaction. The scheduler routes
// them again when they fall due.
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';

export type HoldItem = {
  readonly id: string;
  /** Epoch ms. */
  readonly until: number;
  /** Recorded with the message's events (`held for quiet hours until …`). */
  readonly detail: string;
};

/** Applies the holds; true for each message held, false for one no longer accepted. */
export async function holdBatch(pool: DatabasePool, items: readonly HoldItem[]): Promise<boolean[]> {
  // One UPDATE may change a row once: of several holds of one message in a batch, the last one counts.
  const last = new Map(items.map((item) => [item.id, item]));
  const tuples = [...last.values()].map((item) => [item.id, new Date(item.until).toISOString(), item.detail]);
  // One statement: the holds and their events commit together.
  const held = await pool.anyFirst(sql.type(z.object({ id: z.string() }))`
      WITH input AS (
        SELECT * FROM ${sql.unnest(tuples, ['uuid', 'timestamptz', 'text'])} AS t(id, until, detail)
      ), held AS (
        UPDATE messages m SET send_at = i.until, updated_at = now()
          FROM input i
         WHERE m.id = i.id AND m.state = 'accepted'
        RETURNING m.id
      ), events AS (
        INSERT INTO message_events (message_id, state, detail)
        SELECT held.id, 'accepted', input.detail FROM held JOIN input ON input.id = held.id
      )
      SELECT id FROM held`);
  const heldIds = new Set(held);
  return items.map((item) => heldIds.has(item.id));
}
