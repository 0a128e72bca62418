// Frequency caps: at most `max` messages of one channel and priority per rolling window, counted from
// the times the recipient took them. Pure functions; the times live in the recipient's state.
import { z } from 'zod';
import { CHANNELS, type Channel, PRIORITIES, type Priority } from '../messages/sendRequest.ts';

export type FrequencyCap = { readonly max: number; readonly windowMs: number };

/** Caps by priority, then channel (`{ marketing: { email: { max: 3, windowMs: 86400000 } } }`). */
export type FrequencyCaps = Readonly<Partial<Record<Priority, Readonly<Partial<Record<Channel, FrequencyCap>>>>>>;

/** Where a channel and priority's taken times are kept in the recipient's state. */
export const capKey = (priority: Priority, channel: Channel): string => `${priority}:${channel}`;

export function capOf(caps: FrequencyCaps, priority: Priority, channel: Channel): FrequencyCap | undefined {
  return caps[priority]?.[channel];
}

/** The longest window of any cap: how long taken times must be remembered. */
export function longestCapWindow(caps: FrequencyCaps): number {
  let longest = 0;
  for (const byChannel of Object.values(caps)) {
    for (const cap of Object.values(byChannel ?? {})) longest = Math.max(longest, cap?.windowMs ?? 0);
  }
  return longest;
}

/** How many of `times` fall in the window that ends at `now`. */
export function countInWindow(times: readonly number[], windowMs: number, now: number): number {
  let count = 0;
  for (const at of times) if (at > now - windowMs && at <= now) count++;
  return count;
}

const NOUNS: Readonly<Record<Channel, readonly [string, string]>> = {
  email: ['email', 'emails'],
  sms: ['SMS', 'SMS messages'],
  push: ['push notification', 'push notifications'],
  webhook: ['webhook', 'webhooks'],
};

/** `24h`, `90m`, `45s`, `250ms`. */
export function shortDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

/** `3 marketing emails per 24h`. */
export function describeCap(cap: FrequencyCap, priority: Priority, channel: Channel): string {
  const [one, many] = NOUNS[channel];
  return `${cap.max} ${priority} ${cap.max === 1 ? one : many} per ${shortDuration(cap.windowMs)}`;
}

/**
 * The refusal when taking one more message of this channel and priority now would pass its cap;
 * null when there is no cap or room under it.
 */
export function frequencyCapRefusal(
  caps: FrequencyCaps,
  priority: Priority,
  channel: Channel,
  taken: readonly number[],
  now: number,
): string | null {
  const cap = capOf(caps, priority, channel);
  if (cap === undefined || countInWindow(taken, cap.windowMs, now) < cap.max) return null;
  return `frequency cap: ${describeCap(cap, priority, channel)}`;
}

const capSchema = z.object({ max: z.number().int().positive(), windowMs: z.number().int().positive() }).strict();
const capsSchema = z
  .object(
    Object.fromEntries(
      PRIORITIES.map((priority) => [
        priority,
        z
          .object(Object.fromEntries(CHANNELS.map((channel) => [channel, capSchema.optional()])))
          .strict()
          .optional(),
      ]),
    ),
  )
  .strict();

/** Parses the JSON of SWITCHBOARD_FREQUENCY_CAPS; unset means no caps. */
export function parseFrequencyCaps(
  text: string | undefined,
): { readonly ok: true; readonly caps: FrequencyCaps } | { readonly ok: false; readonly message: string } {
  if (text === undefined) return { ok: true, caps: {} };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, message: 'JSON like {"marketing":{"email":{"max":3,"windowMs":86400000}}}' };
  }
  const parsed = capsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
    return {
      ok: false,
      message: `caps by priority (${PRIORITIES.join(', ')}) then channel (${CHANNELS.join(', ')}), each { max, windowMs } of positive integers${where}`,
    };
  }
  return { ok: true, caps: parsed.data };
}
