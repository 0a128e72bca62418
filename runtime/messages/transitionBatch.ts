// State transitions of many messages in one transaction: each moves only from a state the machine
// allows, with its event recorded and, for a terminal state, its delivery event put in the outbox —
// all in the same transaction.
import { type DatabasePool, type DatabaseTransactionConnection, sql } from 'slonik';
import { z } from 'zod';
import {
  IllegalTransitionError,
  MESSAGE_STATES,
  type MessageState,
  statesLeadingTo,
  TERMINAL_STATES,
} from './messageState.ts';
import type { Channel } from './sendRequest.ts';
import { messageRow, type StoredMessage, toStoredMessage } from './storedMessage.ts';

export type TransitionDetail = {
  readonly provider?: string;
  readonly error?: string;
  readonly countAttempt?: boolean;
  /** Set with `queued`: the recipient's sequence number for the message. */
  readonly recipientSeq?: number;
  /** Set with `recipientSeq`: when (epoch ms, the recipient's clock) the recipient took the message. */
  readonly takenAt?: number;
  /** Starts counting attempts again (an operator's replay). */
  readonly resetAttempts?: boolean;
};

export type TransitionItem = { readonly id: string; readonly to: MessageState; readonly detail: TransitionDetail };

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

/** Applies the transitions; an item whose message is not in a state leading to its target gets an IllegalTransitionError. */
export async function transitionBatch(
  pool: DatabasePool,
  items: readonly TransitionItem[],
): Promise<Array<StoredMessage | Error>> {
  const results = new Array<StoredMessage | Error | undefined>(items.length);
  await pool.transaction(async (tx) => {
    // One UPDATE may touch a row once: a message named twice in a batch goes in a later round.
    let remaining = items.map((_, i) => i);
    while (remaining.length > 0) {
      const seen = new Set<string>();
      const round: number[] = [];
      const later: number[] = [];
      for (const i of remaining) {
        const id = (items[i] as TransitionItem).id;
        if (seen.has(id)) later.push(i);
        else {
          seen.add(id);
          round.push(i);
        }
      }
      await applyRound(tx, items, round, results);
      remaining = later;
    }
  });
  return results.map((result, i) => result ?? new Error(`no outcome for transition ${i}`));
}

async function applyRound(
  tx: DatabaseTransactionConnection,
  items: readonly TransitionItem[],
  round: readonly number[],
  results: Array<StoredMessage | Error | undefined>,
): Promise<void> {
  const tuples = round.map((i) => {
    const { id, to, detail } = items[i] as TransitionItem;
    return [
      id,
      to,
      statesLeadingTo(to).join(','),
      detail.countAttempt ? 1 : 0,
      detail.provider ?? null,
      detail.error ?? null,
      detail.recipientSeq ?? null,
      detail.resetAttempts === true,
      detail.takenAt === undefined ? null : new Date(detail.takenAt).toISOString(),
    ];
  });
  const rows = await tx.any(sql.type(messageRow)`
    UPDATE messages m
       SET state = i.to_state,
                      attempts = CASE WHEN i.reset_attempts THEN 0 ELSE m.attempts + i.attempt_increment END,
           provider = COALESCE(i.provider, m.provider),
           last_error = i.error,
           recipient_seq = COALESCE(i.recipient_seq, m.recipient_seq),
           taken_at = COALESCE(i.taken_at, m.taken_at),
           updated_at = now()
      FROM ${sql.unnest(tuples, ['uuid', 'text', 'text', 'int4', 'text', 'text', 'int8', 'bool', 'timestamptz'])}
        AS i(id, to_state, from_states, attempt_increment, provider, error, recipient_seq, reset_attempts, taken_at)
     WHERE m.id = i.id AND m.state = ANY(string_to_array(i.from_states, ','))
    RETURNING ${sql.join(
      [
        'id',
        'tenant',
        'idempotency_key',
        'channel',
        'priority',
        'recipient',
        'content',
        'template',
        'metadata',
        'campaign_id',
        'send_at',
        'state',
        'attempts',
        'provider',
        'last_error',
        'recipient_seq',
        'created_at',
        'updated_at',
      ].map((column) => sql.identifier(['m', column])),
      sql.fragment`, `,
    )}`);
  const updated = new Map(rows.map((row) => [row.id, toStoredMessage(row)]));

  const events: Array<[string, string, number, string | null, string | null]> = [];
  const outbox: Array<[string, string, string]> = [];
  const refused: number[] = [];
  for (const i of round) {
    const { id, detail } = items[i] as TransitionItem;
    const message = updated.get(id);
    if (message === undefined) {
      refused.push(i);
      continue;
    }
    results[i] = message;
    events.push([id, message.state, message.attempts, detail.provider ?? null, detail.error ?? null]);
    if (TERMINAL_STATES.has(message.state)) {
      const event: DeliveryEvent = {
        messageId: message.id,
        idempotencyKey: message.idempotencyKey,
        channel: message.channel,
        recipientId: message.to.id,
        status: message.state,
        provider: message.provider,
        attempt: message.attempts,
        at: message.updatedAt,
        ...(detail.error ? { error: detail.error } : {}),
      };
      outbox.push([id, message.to.id, JSON.stringify(event)]);
    }
  }
  if (events.length > 0) {
    await tx.query(sql.unsafe`
      INSERT INTO message_events (message_id, state, attempt, provider, detail)
      SELECT * FROM ${sql.unnest(events, ['uuid', 'text', 'int4', 'text', 'text'])}`);
  }
  if (outbox.length > 0) {
    await tx.query(sql.unsafe`
      INSERT INTO outbox (message_id, recipient_id, event)
      SELECT * FROM ${sql.unnest(outbox, ['uuid', 'text', 'jsonb'])}`);
  }
  if (refused.length > 0) {
    const ids = refused.map((i) => (items[i] as TransitionItem).id);
    const current = await tx.any(sql.type(z.object({ id: z.string(), state: z.enum(MESSAGE_STATES) }))`
      SELECT id, state FROM messages WHERE id = ANY(${sql.array(ids, 'uuid')})`);
    const stateOf = new Map(current.map((row) => [row.id, row.state]));
    for (const i of refused) {
      const { id, to } = items[i] as TransitionItem;
      results[i] = new IllegalTransitionError(id, stateOf.get(id), to);
    }
  }
}
