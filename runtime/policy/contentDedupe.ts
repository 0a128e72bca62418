// Content dedupe: a message whose content hash the recipient took within the window is a duplicate.
// Pure functions; the recent hashes live in the recipient's state.

/** A content hash the recipient took, and when. */
export type RecentContent = { readonly hash: string; readonly at: number };

/** `10 minutes`, `1 hour`, `90 seconds`. */
export function longDuration(ms: number): string {
  const unit = (n: number, name: string) => `${n} ${name}${n === 1 ? '' : 's'}`;
  if (ms % 3_600_000 === 0) return unit(ms / 3_600_000, 'hour');
  if (ms % 60_000 === 0) return unit(ms / 60_000, 'minute');
  if (ms % 1_000 === 0) return unit(ms / 1_000, 'second');
  return unit(ms, 'millisecond');
}

/** The refusal when `hash` was taken within the window ending at `now`; null otherwise or when off (window 0). */
export function duplicateRefusal(
  recent: readonly RecentContent[],
  hash: string | null,
  windowMs: number,
  now: number,
): string | null {
  if (windowMs <= 0 || hash === null) return null;
  const duplicate = recent.some((entry) => entry.hash === hash && entry.at > now - windowMs && entry.at <= now);
  return duplicate ? `duplicate content within ${longDuration(windowMs)}` : null;
}
