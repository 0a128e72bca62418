// Durable record of every message: group-committed acceptance with idempotency, group-committed state
// transitions with their events (and an outbox row with each terminal transition), quiet-hours holds,
// and reads (the policy facts of messages are read in shared batches too).
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { GroupCommit, type GroupCommitStats } from '../persistence/GroupCommit.ts';
import { translateStoreError } from '../persistence/StoreError.ts';
import { type HoldItem, holdBatch } from '../policy/holdBatch.ts';
import { type PolicyFacts, readPolicyFacts } from '../policy/policyFacts.ts';
import { type Clock, systemClock } from '../time/Clock.ts';
import { type AcceptItem, type AcceptResult, acceptBatch } from './acceptBatch.ts';
import { MESSAGE_STATES, type MessageState } from './messageState.ts';
import { CHANNELS, type Channel, PRIORITIES, type Priority } from './sendRequest.ts';
import { epochMs, iso, MESSAGE_COLUMNS, messageRow, type StoredMessage, toStoredMessage } from './storedMessage.ts';
import { type DeliveryEvent, type TransitionDetail, type TransitionItem, transitionBatch } from './transitionBatch.ts';

export type { AcceptItem, AcceptResult, DeliveryEvent, PolicyFacts, StoredMessage, TransitionDetail };

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
export type RecipientMessage = {
  readonly recipientSeq: number;
  readonly channel: Channel;
  readonly priority: Priority;
  readonly createdAt: string;
  /** When the recipient took it (epoch ms). */
  readonly takenAt: number;
  readonly contentHash: string | null;
};

/** Messages by id, in the order asked (null for an id with no message). */
async function readMessages(pool: DatabasePool, ids: readonly string[]): Promise<Array<StoredMessage | null>> {
  const rows = await pool.any(
    sql.type(messageRow)`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ANY(${sql.array(ids, 'uuid')})`,
  );
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => {
    const row = byId.get(id);
    return row === undefined ? null : toStoredMessage(row);
  });
}

type TakenQuery = { readonly tenant: string; readonly recipientId: string; readonly afterSeq: number };

/** The messages each recipient took after its snapshot's sequence, for many recipients in one query. */
async function readTakenAfter(pool: DatabasePool, queries: readonly TakenQuery[]): Promise<RecipientMessage[][]> {
  const rows = await pool.any(sql.type(
    z.object({
      k: z.number(),
      recipient_seq: z.bigint(),
      channel: z.enum(CHANNELS),
      priority: z.enum(PRIORITIES),
      created_at: epochMs,
      taken_at: epochMs,
      content_hash: z.string().nullable(),
    }),
  )`
    SELECT q.k, m.recipient_seq, m.channel, m.priority, m.created_at, COALESCE(m.taken_at, m.created_at) AS taken_at,
           m.content_hash
      FROM ${sql.unnest(
        queries.map((query, k) => [k, query.tenant, query.recipientId, query.afterSeq]),
        ['int4', 'text', 'text', 'int8'],
      )} AS q(k, tenant, recipient_id, after_seq)
      JOIN messages m ON m.tenant = q.tenant AND m.recipient_id = q.recipient_id AND m.recipient_seq > q.after_seq
     ORDER BY q.k, m.recipient_seq`);
  const out = queries.map((): RecipientMessage[] => []);
  for (const row of rows) {
    out[row.k]?.push({
      recipientSeq: Number(row.recipient_seq),
      channel: row.channel,
      priority: row.priority,
      createdAt: iso(row.created_at),
      takenAt: row.taken_at,
      contentHash: row.content_hash,
    });
  }
  return out;
}

/** Where the scheduler has read up to: messages due later than this pair come next. */
export type ScheduleCursor = { readonly sendAt: number; readonly id: string };

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
  readonly #holdWriter: GroupCommit<HoldItem, boolean>;
  readonly #factsReader: GroupCommit<string, PolicyFacts | null>;
  readonly #takenReader: GroupCommit<TakenQuery, RecipientMessage[]>;
  readonly #messageReader: GroupCommit<string, StoredMessage | null>;
  readonly #clock: Clock;

  constructor(pool: DatabasePool, options: MessageStoreOptions = {}) {
    this.#pool = pool;
    this.#clock = options.clock ?? systemClock();
    const common = {
      maxBatch: options.maxBatch ?? 1_000,
      maxQueued: options.maxQueued ?? 50_000,
      retryAfterFailureMs: options.retryAfterFailureMs ?? 500,
      clock: this.#clock,
    };
    this.#acceptWriter = new GroupCommit((items) => acceptBatch(pool, items), {
      ...common,
      name: 'message acceptance',
    });
    this.#transitionWriter = new GroupCommit((items) => transitionBatch(pool, items), {
      ...common,
      name: 'message transitions',
    });
    this.#holdWriter = new GroupCommit((items) => holdBatch(pool, items), { ...common, name: 'message holds' });
    this.#factsReader = new GroupCommit((ids) => readPolicyFacts(pool, ids), { ...common, name: 'policy facts' });
    this.#messageReader = new GroupCommit((ids) => readMessages(pool, ids), { ...common, name: 'message loads' });
    this.#takenReader = new GroupCommit((queries) => readTakenAfter(pool, queries), {
      ...common,
      name: 'recipient messages',
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

  /**
   * Holds an accepted message until `until` (epoch ms): its send_at moves there and it stays accepted,
   * with an event recording `detail`. Resolves false when the message is no longer accepted.
   */
  hold(id: string, until: number, detail: string): Promise<boolean> {
    return this.#holdWriter.submit({ id, until, detail });
  }

  /** What the recipient's policy needs of a message (null when there is none); reads made together share a query. */
  policyFacts(id: string): Promise<PolicyFacts | null> {
    return this.#factsReader.submit(id);
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

  /** Writes the queued transitions and holds and refuses further ones (after the actors have stopped). */
  async closeTransitions(): Promise<void> {
    await Promise.all([
      this.#transitionWriter.close(),
      this.#holdWriter.close(),
      this.#factsReader.close(),
      this.#takenReader.close(),
      this.#messageReader.close(),
    ]);
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
      const message = toStoredMessage(row);
      // Acceptance writes no event row: the message's own creation is its `accepted` transition.
      const accepted: Transition = {
        state: 'accepted',
        at: message.createdAt,
        attempt: 0,
        provider: null,
        detail: null,
      };
      return { ...message, transitions: [accepted, ...events.map((event) => ({ ...event, at: iso(event.at) }))] };
    } catch (error) {
      throw translateStoreError(error, 'read a message');
    }
  }

  /** The message as the delivery path needs it, regardless of tenant; loads made together share a query. */
  load(id: string): Promise<StoredMessage | null> {
    return this.#messageReader.submit(id);
  }

  /**
   * Messages accepted but not yet in a terminal state, oldest first, leaving out accepted ones not due
   * at `asOf` (epoch ms, the clock's now by default): the scheduler routes those when they fall due.
   */
  async pending(limit: number, asOf: number = this.#clock.now()): Promise<PendingMessage[]> {
    try {
      const rows = await this.#pool.any(sql.type(pendingRow)`
        SELECT id, tenant, channel, recipient_id, state, priority FROM messages
         WHERE state IN ('accepted', 'queued', 'sending')
           AND NOT (state = 'accepted' AND send_at IS NOT NULL AND send_at > ${sql.timestamp(new Date(asOf))})
         ORDER BY created_at LIMIT ${limit}`);
      return rows.map(toPending);
    } catch (error) {
      throw translateStoreError(error, 'list pending messages');
    }
  }

  /**
   * The backlog: accepted or queued messages untouched for `olderThanMs`, oldest first. A message with
   * a sendAt counts as untouched only from then on, so none is routed before it is due.
   */
  async stale(olderThanMs: number, limit: number): Promise<PendingMessage[]> {
    const dueBefore = sql.timestamp(new Date(this.#clock.now() - olderThanMs));
    try {
      const rows = await this.#pool.any(sql.type(pendingRow)`
        SELECT id, tenant, channel, recipient_id, state, priority FROM messages
         WHERE state IN ('accepted', 'queued') AND updated_at < now() - make_interval(secs => ${olderThanMs / 1000})
           AND (send_at IS NULL OR send_at < ${dueBefore})
         ORDER BY updated_at LIMIT ${limit}`);
      return rows.map(toPending);
    } catch (error) {
      throw translateStoreError(error, 'list the backlog');
    }
  }

  /**
   * Accepted messages with a sendAt after `after` and at or before `upTo` (epoch ms), in (sendAt, id)
   * order: what the scheduler routes as it falls due.
   */
  async dueScheduled(
    after: ScheduleCursor,
    upTo: number,
    limit: number,
  ): Promise<Array<PendingMessage & { readonly sendAt: number }>> {
    try {
      const rows = await this.#pool.any(sql.type(pendingRow.extend({ send_at: epochMs }))`
        SELECT id, tenant, channel, recipient_id, state, priority, send_at FROM messages
         WHERE state = 'accepted' AND send_at IS NOT NULL
           AND (send_at, id) > (${sql.timestamp(new Date(after.sendAt))}, ${after.id}::uuid)
           AND send_at <= ${sql.timestamp(new Date(upTo))}
         ORDER BY send_at, id LIMIT ${limit}`);
      return rows.map((row) => ({ ...toPending(row), sendAt: row.send_at }));
    } catch (error) {
      throw translateStoreError(error, 'list scheduled messages');
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

  /** Messages accepted and not finished, per channel: the durable backlog (messages not yet due left out). */
  async backlogCounts(): Promise<Partial<Record<Channel, number>>> {
    const now = sql.timestamp(new Date(this.#clock.now()));
    try {
      const rows = await this.#pool.any(sql.type(z.object({ channel: z.enum(CHANNELS), n: z.number() }))`
        SELECT channel, count(*)::int AS n FROM messages
         WHERE state IN ('accepted', 'queued', 'sending') AND NOT (state = 'accepted' AND send_at IS NOT NULL AND send_at > ${now})
         GROUP BY channel`);
      return Object.fromEntries(rows.map((row) => [row.channel, row.n]));
    } catch (error) {
      throw translateStoreError(error, 'count the backlog');
    }
  }

  /** The recipient's messages with a recipient sequence above `afterSeq`, in sequence order. */
  recipientMessagesAfter(tenant: string, recipientId: string, afterSeq: number): Promise<RecipientMessage[]> {
    return this.#takenReader.submit({ tenant, recipientId, afterSeq });
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
