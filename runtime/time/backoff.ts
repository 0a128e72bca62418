// Exponential backoff with full jitter: a random delay between 0 and min(cap, base·2^(attempt-1)).

export type BackoffPolicy = { readonly baseMs: number; readonly capMs: number };

/**
 * Delay before retry number `attempt` (1 for the first retry).
 * @param random a source of numbers in [0, 1); injected so tests can pin the jitter.
 */
export function fullJitterDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
