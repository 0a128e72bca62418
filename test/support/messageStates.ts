// Reads message states over HTTP (`GET /v1/messages/{id}`) for many ids at once, and waits until
// every one of them has reached a terminal state.
export const TERMINAL_STATES: ReadonlySet<string> = new Set(['sent', 'delivered', 'suppressed', 'failed', 'dead']);

/** A message's status, `missing` for a 404. */
export type ObservedState = string;

export type ReadStatesOptions = {
  readonly base: string;
  readonly apiKey: string;
  readonly concurrency?: number;
};

/** The status of each id (`missing` when the service answers 404). Throws on any other answer. */
export async function readStates(ids: readonly string[], options: ReadStatesOptions): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      const response = await fetch(`${options.base}/v1/messages/${id}`, {
        headers: { authorization: `Bearer ${options.apiKey}` },
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      if (response.status === 404) states.set(id, 'missing');
      else if (response.status === 200) states.set(id, (JSON.parse(text) as { status: string }).status);
      else throw new Error(`GET /v1/messages/${id} answered ${response.status}: ${text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
  return states;
}

export type TerminalWait = {
  /** The last status read for every id. */
  readonly states: Map<string, string>;
  /** How many ids are in each status. */
  readonly histogram: Record<string, number>;
  /** Ids still not terminal when the time ran out (empty when all made it). */
  readonly open: string[];
};

export function histogram(states: ReadonlyMap<string, string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const state of states.values()) counts[state] = (counts[state] ?? 0) + 1;
  return counts;
}

/**
 * Polls until every id is in a terminal state or `timeoutMs` has passed (ids already terminal are not
 * read again), and reports where each one ended: the caller asserts on `open` and can name them.
 */
export async function waitForTerminal(
  ids: readonly string[],
  options: ReadStatesOptions & { readonly timeoutMs: number; readonly intervalMs?: number },
): Promise<TerminalWait> {
  const states = new Map<string, string>();
  const deadline = Date.now() + options.timeoutMs;
  let open = [...ids];
  for (;;) {
    const read = await readStates(open, options);
    for (const [id, state] of read) states.set(id, state);
    open = open.filter((id) => !TERMINAL_STATES.has(states.get(id) ?? ''));
    if (open.length === 0 || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 1_000));
  }
  return { states, histogram: histogram(states), open };
}
