// What a recipient's policy needs to know of a message, read from the messages table in batches (the
// actors of many recipients asking at once share one query).
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { MESSAGE_STATES, type MessageState } from '../messages/messageState.ts';
import { CHANNELS, type Channel, PRIORITIES, type Priority } from '../messages/sendRequest.ts';

export type PolicyFacts = {
  readonly state: MessageState;
  readonly channel: Channel;
  readonly priority: Priority;
  /** Epoch ms, or null to send now. */
  readonly sendAt: number | null;
  readonly contentHash: string | null;
  /** `to.timeZone`, or null for the default zone. */
  readonly timeZone: string | null;
};

const factsRow = z.object({
  id: z.string(),
  state: z.enum(MESSAGE_STATES),
  channel: z.enum(CHANNELS),
  priority: z.enum(PRIORITIES),
  send_at: z.number().nullable(),
  content_hash: z.string().nullable(),
  time_zone: z.string().nullable(),
});

/** The facts of each message, in order; null for an id with no message. */
export async function readPolicyFacts(pool: DatabasePool, ids: readonly string[]): Promise<Array<PolicyFacts | null>> {
  const rows = await pool.any(sql.type(factsRow)`
    SELECT id, state, channel, priority, send_at, content_hash, recipient->>'timeZone' AS time_zone
      FROM messages WHERE id = ANY(${sql.array(ids, 'uuid')})`);
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => {
    const row = byId.get(id);
    if (row === undefined) return null;
    return {
      state: row.state,
      channel: row.channel,
      priority: row.priority,
      sendAt: row.send_at,
      contentHash: row.content_hash,
      timeZone: row.time_zone,
    };
  });
}
