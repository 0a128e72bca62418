// Polls a probe until it yields a truthy value: the one way tests wait for asynchronous effects
// (no sleeps that guess timing).

import { inspect } from 'node:util';

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  what?: string;
}

type Falsy = undefined | null | false;

/**
 * Resolves with the first truthy value `probe` returns; a probe that throws is retried, and its last
 * error is reported if time runs out.
 * @example const record = await waitFor(() => received[0], { what: 'the smoke record' });
 */
export async function waitFor<T>(
  probe: () => T | Falsy | Promise<T | Falsy>,
  options: WaitForOptions = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 50, what = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError === undefined ? '' : `; last error: ${inspect(lastError, { depth: 2 })}`;
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${detail}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
