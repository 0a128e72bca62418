// What a recipient's policy remembers of the messages it took: the times per capped channel and
// priority, and the recent content hashes. Folded from taken messages only (each with the time it was
// taken, as stored), so a snapshot plus the messages after it gives the same history again.
import type { Channel, Priority } from '../messages/sendRequest.ts';
import type { RecentContent } from './contentDedupe.ts';
import { capKey, capOf, type FrequencyCaps } from './frequencyCap.ts';

export type RecipientHistory = {
  /** Times (epoch ms) messages were taken, per capped `priority:channel`, within that cap's window. */
  readonly taken: Readonly<Record<string, readonly number[]>>;
  /** Content hashes taken within the dedupe window, oldest first. */
  readonly content: readonly RecentContent[];
};

export const EMPTY_HISTORY: RecipientHistory = { taken: {}, content: [] };

/** What the history keeps, from config: caps name which times to keep and for how long. */
export type HistoryRetention = { readonly frequencyCaps: FrequencyCaps; readonly dedupeWindowMs: number };

export type TakenForHistory = {
  readonly channel: Channel;
  readonly priority: Priority;
  readonly contentHash: string | null;
  /** When the recipient took it (epoch ms). */
  readonly takenAt: number;
};

/**
 * The history after one more message was taken. Entries that fell out of their window as of this
 * message are dropped, so the history stays as small as the windows allow.
 */
export function recordTaken(
  history: RecipientHistory,
  retention: HistoryRetention,
  message: TakenForHistory,
): RecipientHistory {
  const at = message.takenAt;
  const taken: Record<string, readonly number[]> = {};
  for (const [key, times] of Object.entries(history.taken)) {
    const [priority, channel] = key.split(':') as [Priority, Channel];
    const windowMs = capOf(retention.frequencyCaps, priority, channel)?.windowMs;
    if (windowMs === undefined) continue;
    const kept = times.filter((time) => time > at - windowMs);
    if (kept.length > 0) taken[key] = kept;
  }
  const cap = capOf(retention.frequencyCaps, message.priority, message.channel);
  if (cap !== undefined) {
    const key = capKey(message.priority, message.channel);
    taken[key] = [...(taken[key] ?? []), at];
  }
  const windowMs = retention.dedupeWindowMs;
  const content =
    windowMs > 0
      ? [
          ...history.content.filter((entry) => entry.at > at - windowMs),
          ...(message.contentHash === null ? [] : [{ hash: message.contentHash, at }]),
        ]
      : [];
  return { taken, content };
}
