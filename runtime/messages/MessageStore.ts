// Durable record of every message: group-committed acceptance with idempotency, group-committed state
// transitions with their events (and an outbox row with each terminal transition), and reads.
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { GroupCommit, type GroupCommitStats } from '../persistence/GroupCommit.ts';
import { translateStoreError } from '../persistence/StoreError.ts';
import { type Clock, systemClock } from '../time/Clock.ts';
import { type AcceptItem, type AcceptResult, acceptBatch } from './acceptBatch.ts';
import { MESSAGE_STATES, type MessageState } from './messageState.ts';
import { CHANNELS, type Channel, PRIORITIES, type Priority } from './sendRequest.ts';
import { epochMs, iso, MESSAGE_COLUMNS, messageRow, type StoredMessage, toStoredMessage } from './storedMessage.ts';
import { type DeliveryEvent, type TransitionDetail, type TransitionItem, transitionBatch } from './transitionBatch.ts';

export type { AcceptItem, AcceptResult, DeliveryEvent, StoredMessage, TransitionDetail };

/** A message accepted but not finished, with what routing it needs. */
export type PendingMessage = {
  readonly id: string;
  readonly tenant: string;
  readonly channel: Channel;
  readonly recipientId: string;
  readonly state: MessageState;
  readonly priority: Priority;
};

/** What a recipient's state is rebuilt from: the messages it took after its snapshot. */
export type RecipientMessage = { readonly recipientSeq: number; readonly channel: Channel; readonly createdAt: string };

export type Transition = {
  readonly state: MessageState;
  readonly at: string;
  readonly attempt: number;
  readonly provider: string | null;
  readonly detail: string | null;
};

export type MessageStoreOptions = {
  readonly clock?: Clock;
  /** Most sends per acceptance transaction (and transitions per transition transaction). */
  readonly maxBatch?: number;
  /** Most writes waiting for a transaction; past it, writes are refused as overloaded. */
  readonly maxQueued?: number;
  /** Pause after a failed batch before the next try. */
  readonly retryAfterFailureMs?: number;
};

const pendingRow = z.object({
  id: z.string(),
  tenant: z.string(),
  channel: z.enum(CHANNELS),
  recipient_id: z.string(),
  state: z.enum(MESSAGE_STATES),
  priority: z.enum(PRIORITIES),
});

export class MessageStore {
  readonly #pool: DatabasePool;
  readonly #acceptWriter: GroupCommit<AcceptItem, AcceptResult>;
  readonly #transitionWriter: GroupCommit<TransitionItem, StoredMessage>;

  constructor(pool: DatabasePool, options: MessageStoreOptions = {}) {
    this.#pool = pool;
    const common = {
      maxBatch: options.maxBatch ?? 1_000,
      maxQueued: options.maxQueued ?? 50_000,
      retryAfterFailureMs: options.retryAfterFailureMs ?? 500,
      clock: options.clock ?? systemClock(),
    };
    this.#acceptWriter = new GroupCommit((items) => acceptBatch(pool, items), {
      ...common,
      name: 'message acceptance',
    });
    this.#transitionWriter = new GroupCommit((items) => transitionBatch(pool, items), {
      ...common,
      name: 'message transitions',
    });
  }

  /**
   * Durably accepts a send; resolves once its batch has committed. A repeated `(tenant,
   * idempotencyKey)` resolves to the first message's id with `created: false` and writes nothing.
   * @throws {StoreUnavailableError} (or its StoreOverloadedError) when the send was not written.
   */
  accept(tenant: string, request: AcceptItem['request']): Promise<AcceptResult> {
    return this.#acceptWriter.submit({ tenant, request });
  }

  /** Accepts several sends; they share batches, and each result settles on its own. */
  acceptMany(items: readonly AcceptItem[]): Array<Promise<AcceptResult>> {
    return this.#acceptWriter.submitAll(items);
  }

  /**
   * Moves a message to `to`, recording the event; a terminal state also writes its outbox row, in the
   * same transaction. Transitions of many messages share transactions.
   * @throws {IllegalTransitionError} when the message is not in a state that may lead to `to`.
   */
  transition(id: string, to: MessageState, detail: TransitionDetail = {}): Promise<StoredMessage> {
    return this.#transitionWriter.submit({ id, to, detail });
  }

  /** Puts a failed or dead message back in its channel's queue with its attempts counted afresh. */
  replay(id: string): Promise<StoredMessage> {
    return this.transition(id, 'queued', { resetAttempts: true, error: 'replayed by an operator' });
  }

  /** Batching figures of the writers. */
  acceptStats(): GroupCommitStats {
    return this.#acceptWriter.stats();
  }

  transitionStats(): GroupCommitStats {
    return this.#transitionWriter.stats();
  }

  /** Writes what is queued and refuses further acceptance; transitions keep working until closeTransitions. */
  close(): Promise<void> {
    return this.#acceptWriter.close();
  }

  /** Writes the queued transitions and refuses further ones (after the actors have stopped). */
  closeTransitions(): Promise<void> {
    return this.#transitionWriter.close();
  }

  /** The message with its transitions, or null when this tenant has no such message. */
  async find(tenant: string, id: string): Promise<(StoredMessage & { transitions: Transition[] }) | null> {
    if (!z.uuid().safeParse(id).success) return null;
    try {
      const row = await this.#pool.maybeOne(
        sql.type(messageRow)`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ${id} AND tenant = ${tenant}`,
      );
      if (row === null) return null;
      const events = await this.#pool.any(
        sql.type(
          z.object({
            state: z.enum(MESSAGE_STATES),
            at: epochMs,
            attempt: z.number(),
            provider: z.string().nullable(),
            detail: z.string().nullable(),
          }),
        )`SELECT state, at, attempt, provider, detail FROM message_events WHERE message_id = ${id} ORDER BY id`,
      );
      return { ...toStoredMessage(row), transitions: events.map((event) => ({ ...event, at: iso(event.at) })) };
    } catch (error) {
      throw translateStoreError(error, 'read a message');
    }
  }

  /** The message as the delivery path needs it, regardless of tenant. */
  async load(id: string): Promise<StoredMessage | null> {
    try {
      const row = await this.#pool.maybeOne(
        sql.type(messageRow)`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ${id}`,
      );
      return row === null ? null : toStoredMessage(row);
    } catch (error) {
      throw translateStoreError(error, 'load a message');
    }
  }

  /** Messages accepted but not yet in a terminal state, oldest first. */
  async pending(limit: number): Promise<PendingMessage[]> {
    try {
      const rows = await this.#pool.any(sql.type(pendingRow)`
        SELECT id, tenant, channel, recipient_id, state, priority FROM messages
         WHERE state IN ('accepted', 'queued', 'sending') ORDER BY created_at LIMIT ${limit}`);
      return rows.map(toPending);
    } catch (error) {
      throw translateStoreError(error, 'list pending messages');
    }
  }

  /** The backlog: accepted or queued messages untouched for `olderThanMs`, oldest first. */
  async stale(olderThanMs: number, limit: number): Promise<PendingMessage[]> {
    try {
      const rows = await this.#pool.any(sql.type(pendingRow)`
        SELECT id, tenant, channel, recipient_id, state, priority FROM messages
         WHERE state IN ('accepted', 'queued') AND updated_at < now() - make_interval(secs => ${olderThanMs / 1000})
         ORDER BY updated_at LIMIT ${limit}`);
      return rows.map(toPending);
    } catch (error) {
      throw translateStoreError(error, 'list the backlog');
    }
  }

  /** Queued messages of a channel (transactional first, oldest first), leaving out `skip`. */
  async queuedFor(
    channel: Channel,
    limit: number,
    skip: readonly string[],
  ): Promise<Array<{ id: string; priority: Priority }>> {
    try {
      const rows = await this.#pool.any(sql.type(z.object({ id: z.string(), priority: z.enum(PRIORITIES) }))`
        SELECT id, priority FROM messages
         WHERE channel = ${channel} AND state = 'queued' AND NOT (id = ANY(${sql.array(skip, 'uuid')}))
         ORDER BY priority = 'marketing', updated_at
         LIMIT ${limit}`);
      return [...rows];
    } catch (error) {
      throw translateStoreError(error, 'read queued messages');
    }
  }

  /** Messages accepted and not finished, per channel: the durable backlog. */
  async backlogCounts(): Promise<Partial<Record<Channel, number>>> {
    try {
      const rows = await this.#pool.any(sql.type(z.object({ channel: z.enum(CHANNELS), n: z.number() }))`
        SELECT channel, count(*)::int AS n FROM messages WHERE state IN ('accepted', 'queued', 'sending') GROUP BY channel`);
      return Object.fromEntries(rows.map((row) => [row.channel, row.n]));
    } catch (error) {
      throw translateStoreError(error, 'count the backlog');
    }
  }

  /** The recipient's messages with a recipient sequence above `afterSeq`, in sequence order. */
  async recipientMessagesAfter(tenant: string, recipientId: string, afterSeq: number): Promise<RecipientMessage[]> {
    try {
      const rows = await this.#pool.any(sql.type(
        z.object({ recipient_seq: z.bigint(), channel: z.enum(CHANNELS), created_at: epochMs }),
      )`
        SELECT recipient_seq, channel, created_at FROM messages
         WHERE tenant = ${tenant} AND recipient_id = ${recipientId} AND recipient_seq > ${afterSeq}
         ORDER BY recipient_seq`);
      return rows.map((row) => ({
        recipientSeq: Number(row.recipient_seq),
        channel: row.channel,
        createdAt: iso(row.created_at),
      }));
    } catch (error) {
      throw translateStoreError(error, 'read a recipient’s messages');
    }
  }
}

function toPending(row: z.output<typeof pendingRow>): PendingMessage {
  return {
    id: row.id,
    tenant: row.tenant,
    channel: row.channel,
    recipientId: row.recipient_id,
    state: row.state,
    priority: row.priority,
  };
}
