// The relay's lag: how many outbox rows wait and how old the oldest is. The relay's own reads keep it
// current for free while it keeps up (a short read is an exact count); a count(*) runs at most every
// `refreshMs`, for when the relay is behind (full batches) or not publishing at all (a broker outage).
import type { DatabasePool } from 'slonik';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import type { Clock } from '../../../runtime/time/Clock.ts';
import { selectBacklog } from './outboxSql.ts';

export type BacklogFigures = {
  /** Unpublished rows, or null before the first look. */
  readonly lag: number | null;
  /** Age of the oldest unpublished row in ms, 0 when none, null before the first look. */
  readonly oldestAgeMs: number | null;
};

export class OutboxBacklog {
  readonly #pool: DatabasePool;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #refreshMs: number;
  #lag: number | null = null;
  /** created_at of the oldest unpublished row; null when none (or unknown, with #lag null). */
  #oldestAt: number | null = null;
  /** When the last count(*) ran (or failed). */
  #countedAt = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;

  constructor(options: { pool: DatabasePool; clock: Clock; logger: Logger; refreshMs: number }) {
    this.#pool = options.pool;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#refreshMs = options.refreshMs;
  }

  /** A read of at most `limit` oldest unpublished rows returned `size` rows, the oldest written at `oldestAt`. */
  sawBatch(size: number, limit: number, oldestAt: number | null): void {
    this.#oldestAt = oldestAt;
    if (size < limit) {
      // Everything there was: an exact count at this moment.
      this.#lag = size;
    } else if (this.#lag === null || this.#lag < size) {
      this.#lag = size;
    }
  }

  /** `count` rows were marked published. */
  published(count: number): void {
    if (this.#lag !== null) this.#lag = Math.max(0, this.#lag - count);
  }

  get figures(): BacklogFigures {
    if (this.#lag === null) return { lag: null, oldestAgeMs: null };
    const oldestAgeMs = this.#oldestAt === null ? 0 : Math.max(0, this.#clock.now() - this.#oldestAt);
    return { lag: this.#lag, oldestAgeMs };
  }

  /**
   * Counts the backlog unless the last count ran less than `refreshMs` ago; at most one count runs at
   * a time. Never rejects: a failed count leaves the last figures and is logged.
   */
  refresh(): Promise<void> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    if (this.#clock.now() - this.#countedAt < this.#refreshMs) return Promise.resolve();
    this.#countedAt = this.#clock.now();
    this.#refreshing = this.#pool
      .one(selectBacklog())
      .then(
        (row) => {
          this.#lag = Number(row.lag);
          this.#oldestAt = row.oldest_at;
        },
        (error: unknown) => {
          // Tried again no sooner than the next period: a database that is down is reported elsewhere.
          this.#logger.warn({ err: error }, 'event relay: could not count the outbox backlog');
        },
      )
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }
}
