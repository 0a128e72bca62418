// Durable record of every message: acceptance with idempotency, state transitions with their events,
// and an outbox row written in the same transaction as each terminal transition.
import { type DatabasePool, type DatabaseTransactionConnection, sql } from 'slonik';
import { z } from 'zod';
import { GroupCommit, type GroupCommitStats } from '../persistence/GroupCommit.ts';
import { translateStoreError } from '../persistence/StoreError.ts';
import { type Clock, systemClock } from '../time/Clock.ts';
import { type AcceptItem, type AcceptResult, acceptBatch } from './acceptBatch.ts';
import {
  IllegalTransitionError,
  MESSAGE_STATES,
  type MessageState,
  statesLeadingTo,
  TERMINAL_STATES,
} from './messageState.ts';
import { CHANNELS, type Channel, PRIORITIES, type SendRequest } from './sendRequest.ts';

export type PendingMessage = {
  readonly id: string;
  readonly tenant: string;
  readonly channel: Channel;
  readonly recipientId: string;
};

export type MessageStoreOptions = {
  readonly clock?: Clock;
  /** Most sends per acceptance transaction. */
  readonly maxBatch?: number;
  /** Most sends waiting for a transaction; past it, sends are refused as overloaded. */
  readonly maxQueued?: number;
  /** Pause after a failed acceptance batch before the next try. */
  readonly retryAfterFailureMs?: number;
};

export type { AcceptItem, AcceptResult };

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
  readonly createdAt: string;
  readonly updatedAt: string;
};

export type Transition = {
  readonly state: MessageState;
  readonly at: string;
  readonly attempt: number;
  readonly provider: string | null;
  readonly detail: string | null;
};

export type TransitionDetail = {
  readonly provider?: string;
  readonly error?: string;
  readonly countAttempt?: boolean;
};

/** The delivery event published for a terminal transition (ARCHITECTURE §6). */
export type DeliveryEvent = {
  readonly messageId: string;
  readonly idempotencyKey: string | null;
  readonly channel: Channel;
  readonly recipientId: string;
  readonly status: MessageState;
  readonly provider: string | null;
  readonly attempt: number;
  readonly at: string;
  readonly error?: string;
};

// slonik returns timestamptz as epoch milliseconds and validates rows without applying transforms.
const epochMs = z.number();
const iso = (ms: number): string => new Date(ms).toISOString();

const messageRow = z.object({
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
  created_at: epochMs,
  updated_at: epochMs,
});

const MESSAGE_COLUMNS = sql.fragment`id, tenant, idempotency_key, channel, priority, recipient, content, template, metadata,
  campaign_id, send_at, state, attempts, provider, last_error, created_at, updated_at`;

function toStoredMessage(row: z.output<typeof messageRow>): StoredMessage {
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
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/** Reads and writes messages; every method is one transaction. */
export class MessageStore {
  readonly #pool: DatabasePool;
  readonly #acceptWriter: GroupCommit<AcceptItem, AcceptResult>;

  constructor(pool: DatabasePool, options: MessageStoreOptions = {}) {
    this.#pool = pool;
    this.#acceptWriter = new GroupCommit((items) => acceptBatch(pool, items), {
      name: 'message acceptance',
      maxBatch: options.maxBatch ?? 1_000,
      maxQueued: options.maxQueued ?? 50_000,
      retryAfterFailureMs: options.retryAfterFailureMs ?? 500,
      clock: options.clock ?? systemClock(),
    });
  }

  /**
   * Durably accepts a send; resolves once its batch has committed. A repeated `(tenant,
   * idempotencyKey)` resolves to the first message's id with `created: false` and writes nothing.
   * @throws {StoreUnavailableError} (or its StoreOverloadedError) when the send was not written.
   */
  accept(tenant: string, request: SendRequest): Promise<AcceptResult> {
    return this.#acceptWriter.submit({ tenant, request });
  }

  /** Accepts several sends; they share batches, and each result settles on its own. */
  acceptMany(items: readonly AcceptItem[]): Array<Promise<AcceptResult>> {
    return this.#acceptWriter.submitAll(items);
  }

  /** Batching figures of the acceptance writer. */
  acceptStats(): GroupCommitStats {
    return this.#acceptWriter.stats();
  }

  /** Writes what is queued and refuses further writes. */
  close(): Promise<void> {
    return this.#acceptWriter.close();
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
      return {
        ...toStoredMessage(row),
        transitions: events.map((event) => ({ ...event, at: iso(event.at) })),
      };
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

  /**
   * Moves a message to `to`, recording the event; a terminal state also writes its outbox row, in the
   * same transaction.
   * @throws {IllegalTransitionError} when the message is not in a state that may lead to `to`.
   */
  async transition(id: string, to: MessageState, detail: TransitionDetail = {}): Promise<StoredMessage> {
    const from = statesLeadingTo(to);
    try {
      return await this.#pool.transaction(async (tx) => {
        const row = await tx.maybeOne(sql.type(messageRow)`
          UPDATE messages
             SET state = ${to},
                 attempts = attempts + ${detail.countAttempt ? 1 : 0},
                 provider = COALESCE(${detail.provider ?? null}, provider),
                 last_error = ${detail.error ?? null},
                 updated_at = now()
           WHERE id = ${id} AND state = ANY(${sql.array(from, 'text')})
          RETURNING ${MESSAGE_COLUMNS}`);
        if (row === null) {
          const current = await tx.maybeOneFirst(
            sql.type(z.object({ state: z.enum(MESSAGE_STATES) }))`SELECT state FROM messages WHERE id = ${id}`,
          );
          throw new IllegalTransitionError(id, current ?? undefined, to);
        }
        const message = toStoredMessage(row);
        await recordEvent(tx, message, detail);
        return message;
      });
    } catch (error) {
      throw translateStoreError(error, `move a message to ${to}`);
    }
  }

  /** Messages accepted but not yet in a terminal state, oldest first, with what routing them needs. */
  async pending(limit: number): Promise<PendingMessage[]> {
    try {
      const rows = await this.#pool.any(sql.type(
        z.object({ id: z.string(), tenant: z.string(), channel: z.enum(CHANNELS), recipient_id: z.string() }),
      )`
        SELECT id, tenant, channel, recipient_id FROM messages
         WHERE state IN ('accepted', 'queued', 'sending') ORDER BY created_at LIMIT ${limit}`);
      return rows.map((row) => ({
        id: row.id,
        tenant: row.tenant,
        channel: row.channel,
        recipientId: row.recipient_id,
      }));
    } catch (error) {
      throw translateStoreError(error, 'list pending messages');
    }
  }
}

async function recordEvent(
  tx: DatabaseTransactionConnection,
  message: StoredMessage,
  detail: TransitionDetail,
): Promise<void> {
  const at = await tx.oneFirst(sql.type(z.object({ at: epochMs }))`
    INSERT INTO message_events (message_id, state, attempt, provider, detail)
    VALUES (${message.id}, ${message.state}, ${message.attempts}, ${detail.provider ?? null}, ${detail.error ?? null})
    RETURNING at`);
  if (!TERMINAL_STATES.has(message.state)) return;
  const event: DeliveryEvent = {
    messageId: message.id,
    idempotencyKey: message.idempotencyKey,
    channel: message.channel,
    recipientId: message.to.id,
    status: message.state,
    provider: message.provider,
    attempt: message.attempts,
    at: iso(at),
    ...(detail.error ? { error: detail.error } : {}),
  };
  await tx.query(sql.unsafe`
    INSERT INTO outbox (message_id, recipient_id, event) VALUES (${message.id}, ${message.to.id}, ${sql.jsonb(event)})`);
}
