// Where messages go that no actor can take (the actor stopped, or failed on them): counted by reason,
// the latest kept for introspection, and logged with sampling so a flood cannot drown the log.
import type { Logger } from '../logging/createLogger.ts';

export type DeadLetterReason = 'stopped' | 'failed' | 'shutdown';

export type DeadLetter = {
  readonly path: string;
  readonly messageType: string;
  readonly reason: DeadLetterReason;
  readonly at: string;
};

export type DeadLetterListener = (letter: DeadLetter, message: unknown) => void;

const KEEP = 100;

export class DeadLetters {
  readonly #recent: DeadLetter[] = [];
  readonly #counts: Record<DeadLetterReason, number> = { stopped: 0, failed: 0, shutdown: 0 };
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #listeners = new Set<DeadLetterListener>();

  constructor(logger: Logger, now: () => number) {
    this.#logger = logger;
    this.#now = now;
  }

  record(path: string, message: unknown, reason: DeadLetterReason): void {
    const letter: DeadLetter = { path, messageType: typeOf(message), reason, at: new Date(this.#now()).toISOString() };
    const count = ++this.#counts[reason];
    this.#recent.push(letter);
    if (this.#recent.length > KEEP) this.#recent.shift();
    if (count <= 10 || count % 1_000 === 0) this.#logger.warn({ ...letter, count }, 'dead letter');
    for (const listener of this.#listeners) listener(letter, message);
  }

  /** Called for every dead letter (metrics, tests). Returns the unsubscribe function. */
  subscribe(listener: DeadLetterListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get total(): number {
    return this.#counts.stopped + this.#counts.failed + this.#counts.shutdown;
  }

  counts(): Readonly<Record<DeadLetterReason, number>> {
    return { ...this.#counts };
  }

  /** The most recent dead letters, newest last. */
  recent(): readonly DeadLetter[] {
    return [...this.#recent];
  }
}

function typeOf(message: unknown): string {
  if (typeof message === 'object' && message !== null && 'type' in message && typeof message.type === 'string')
    return message.type;
  return typeof message;
}
