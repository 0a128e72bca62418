// Supervision strategies as typed values: what happens to an actor whose handler throws, how fast it
// comes back, and when its failures become its parent's problem.

/** What a supervisor decides for a failed actor. */
export type Directive = 'resume' | 'restart' | 'stop' | 'escalate';

/** `one-for-one` restarts only the failed actor; `all-for-one` restarts it and all its siblings. */
export type SupervisionScope = 'one-for-one' | 'all-for-one';

export type BackoffRange = {
  /** Delay of the first restart. */
  readonly minMs: number;
  /** No restart waits longer than this. */
  readonly maxMs: number;
};

export type RestartIntensity = {
  /** More restarts than this within `withinMs` escalate instead. */
  readonly maxRestarts: number;
  readonly withinMs: number;
};

export type SupervisionStrategy = {
  readonly scope: SupervisionScope;
  /** Chooses the directive for an error; `restart` is subject to `intensity`. */
  readonly decide: (error: unknown) => Directive;
  readonly backoff: BackoffRange;
  readonly intensity: RestartIntensity;
};

export const DEFAULT_BACKOFF: BackoffRange = { minMs: 100, maxMs: 30_000 };
export const DEFAULT_INTENSITY: RestartIntensity = { maxRestarts: 10, withinMs: 60_000 };

type StrategyOptions = {
  readonly scope?: SupervisionScope;
  readonly backoff?: BackoffRange;
  readonly intensity?: RestartIntensity;
  /** Overrides the directive per error (e.g. `stop` for a configuration error); defaults to the strategy's own. */
  readonly decide?: (error: unknown) => Directive;
};

function strategy(directive: Directive, options: StrategyOptions = {}): SupervisionStrategy {
  return Object.freeze({
    scope: options.scope ?? 'one-for-one',
    decide: options.decide ?? (() => directive),
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    intensity: options.intensity ?? DEFAULT_INTENSITY,
  });
}

/** Restart after an exponentially growing, jittered delay; past the intensity limit, escalate. */
export const restartWithBackoff = (options?: StrategyOptions): SupervisionStrategy => strategy('restart', options);
/** Keep the state and carry on with the next message. */
export const resume = (options?: StrategyOptions): SupervisionStrategy => strategy('resume', options);
/** Stop the actor; later messages go to dead letters. */
export const stop = (options?: StrategyOptions): SupervisionStrategy => strategy('stop', options);
/** Hand the failure to the parent as the parent's own failure. */
export const escalate = (options?: StrategyOptions): SupervisionStrategy => strategy('escalate', options);

/**
 * Delay before restart number `attempt` (1-based, counted within the intensity window): between
 * `minMs` and a ceiling of `minMs·2^(attempt-1)` capped at `maxMs`, chosen uniformly (full jitter).
 * @param random numbers in [0, 1); injected so tests can pin the jitter.
 */
export function restartDelay(backoff: BackoffRange, attempt: number, random: () => number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(backoff.minMs + random() * Math.max(0, ceiling - backoff.minMs));
}

/**
 * Records a restart at `now` in `history` (dropping entries older than the window) and tells whether
 * the intensity limit still allows it.
 */
export function admitRestart(history: number[], intensity: RestartIntensity, now: number): boolean {
  while (history.length > 0 && (history[0] ?? 0) <= now - intensity.withinMs) history.shift();
  if (history.length >= intensity.maxRestarts) return false;
  history.push(now);
  return true;
}
