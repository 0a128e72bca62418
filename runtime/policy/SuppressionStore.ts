// Suppression lists per tenant in PostgreSQL: a recipient suppressed on one channel or on all of them
// (channel null), with a reason. Recipient actors load their lists when they activate; loads that
// arrive together (many actors activating at once) share one query.
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { CHANNELS, type Channel } from '../messages/sendRequest.ts';
import { GroupCommit } from '../persistence/GroupCommit.ts';
import { translateStoreError } from '../persistence/StoreError.ts';
import { type Clock, systemClock } from '../time/Clock.ts';
import type { Suppression } from './suppression.ts';

/** One entry of a tenant's suppression list. */
export type SuppressionEntry = {
  readonly recipientId: string;
  /** null: every channel. */
  readonly channel: Channel | null;
  readonly reason: string | null;
  /** ISO 8601. */
  readonly createdAt: string;
};

export type SuppressionStoreOptions = {
  readonly clock?: Clock;
  /** Most recipients per load query. Default 500. */
  readonly maxBatch?: number;
};

type LoadItem = { readonly tenant: string; readonly recipientId: string };

const entryRow = z.object({
  recipient_id: z.string(),
  channel: z.enum(CHANNELS).nullable(),
  reason: z.string().nullable(),
  created_at: z.number(),
});

const toEntry = (row: z.output<typeof entryRow>): SuppressionEntry => ({
  recipientId: row.recipient_id,
  channel: row.channel,
  reason: row.reason,
  createdAt: new Date(row.created_at).toISOString(),
});

export class SuppressionStore {
  readonly #pool: DatabasePool;
  readonly #loads: GroupCommit<LoadItem, readonly Suppression[]>;

  constructor(pool: DatabasePool, options: SuppressionStoreOptions = {}) {
    this.#pool = pool;
    this.#loads = new GroupCommit((items) => this.#loadBatch(items), {
      name: 'suppression loads',
      maxBatch: options.maxBatch ?? 500,
      maxQueued: 100_000,
      retryAfterFailureMs: 500,
      clock: options.clock ?? systemClock(),
    });
  }

  /** Adds (or, when it exists, updates the reason of) an entry; resolves once committed. */
  async add(
    tenant: string,
    recipientId: string,
    channel: Channel | null,
    reason: string | null,
  ): Promise<SuppressionEntry> {
    try {
      const row = await this.#pool.one(sql.type(entryRow)`
        INSERT INTO suppressions (tenant, recipient_id, channel, reason)
        VALUES (${tenant}, ${recipientId}, ${channel}, ${reason})
        ON CONFLICT ON CONSTRAINT suppressions_key DO UPDATE SET reason = EXCLUDED.reason
        RETURNING recipient_id, channel, reason, created_at`);
      return toEntry(row);
    } catch (error) {
      throw translateStoreError(error, 'add a suppression');
    }
  }

  /** Removes the entry for exactly this channel (null: the all-channel entry); false when there was none. */
  async remove(tenant: string, recipientId: string, channel: Channel | null): Promise<boolean> {
    try {
      const removed = await this.#pool.anyFirst(sql.type(z.object({ recipient_id: z.string() }))`
        DELETE FROM suppressions
         WHERE tenant = ${tenant} AND recipient_id = ${recipientId} AND channel IS NOT DISTINCT FROM ${channel}
        RETURNING recipient_id`);
      return removed.length > 0;
    } catch (error) {
      throw translateStoreError(error, 'remove a suppression');
    }
  }

  /** A tenant's entries, newest first: one recipient's, or the latest `limit` of all. */
  async list(
    tenant: string,
    filter: { readonly recipientId?: string; readonly limit: number },
  ): Promise<SuppressionEntry[]> {
    try {
      const rows = await this.#pool.any(sql.type(entryRow)`
        SELECT recipient_id, channel, reason, created_at FROM suppressions
         WHERE tenant = ${tenant} ${filter.recipientId === undefined ? sql.fragment`` : sql.fragment`AND recipient_id = ${filter.recipientId}`}
         ORDER BY created_at DESC, recipient_id, channel NULLS FIRST
         LIMIT ${filter.limit}`);
      return rows.map(toEntry);
    } catch (error) {
      throw translateStoreError(error, 'list suppressions');
    }
  }

  /** One recipient's list, as its actor holds it; loads made together share a query. */
  forRecipient(tenant: string, recipientId: string): Promise<readonly Suppression[]> {
    return this.#loads.submit({ tenant, recipientId });
  }

  /** Answers the loads in flight, then refuses new ones. */
  close(): Promise<void> {
    return this.#loads.close();
  }

  async #loadBatch(items: readonly LoadItem[]): Promise<Array<readonly Suppression[]>> {
    const keys = items.map((item) => [item.tenant, item.recipientId]);
    const rows = await this.#pool.any(sql.type(
      z.object({
        tenant: z.string(),
        recipient_id: z.string(),
        channel: z.enum(CHANNELS).nullable(),
        reason: z.string().nullable(),
      }),
    )`
      SELECT s.tenant, s.recipient_id, s.channel, s.reason
        FROM suppressions s
        JOIN (SELECT DISTINCT * FROM ${sql.unnest(keys, ['text', 'text'])} AS k(tenant, recipient_id)) k
          ON s.tenant = k.tenant AND s.recipient_id = k.recipient_id`);
    const byKey = new Map<string, Suppression[]>();
    for (const row of rows) {
      const key = `${row.tenant}\u0000${row.recipient_id}`;
      const list = byKey.get(key) ?? [];
      list.push({ channel: row.channel, reason: row.reason });
      byKey.set(key, list);
    }
    return items.map((item) => byKey.get(`${item.tenant}\u0000${item.recipientId}`) ?? []);
  }
}
