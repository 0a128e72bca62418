// Group commit: callers' writes queue up and are written together, one transaction per batch, and each
// caller hears back only once its batch has committed. One batch is in flight at a time; whatever
// arrives meanwhile forms the next, so batches grow with load and cost no added wait when idle.
import type { Clock, TimerHandle } from '../time/Clock.ts';
import { StoreUnavailableError, translateStoreError } from './StoreError.ts';

/** The queue is full: the store is not keeping up. Callers answer 503 with Retry-After. */
export class StoreOverloadedError extends StoreUnavailableError {
  readonly queued: number;
  constructor(queued: number) {
    super(`the store is overloaded: ${queued} writes are already waiting; retry later`);
    this.name = 'StoreOverloadedError';
    this.queued = queued;
  }
}

/** A write after close() began. */
export class GroupCommitClosedError extends Error {
  constructor(name: string) {
    super(`${name} is closed`);
    this.name = 'GroupCommitClosedError';
  }
}

/**
 * Writes one batch in one transaction and returns one outcome per item, in order: a value, or an
 * Error for an item refused on its own (the rest of the batch still commits).
 */
export type BatchWrite<I, O> = (items: readonly I[]) => Promise<ReadonlyArray<O | Error>>;

export type GroupCommitOptions = {
  /** Names the writer in errors and stats. */
  readonly name: string;
  /** Most items per transaction. */
  readonly maxBatch: number;
  /** Most items waiting (not counting the batch in flight); past it, writes fail with StoreOverloadedError. */
  readonly maxQueued: number;
  /** After a failed batch, how long before the next is tried (the store may be down). */
  readonly retryAfterFailureMs: number;
  readonly clock: Clock;
};

export type GroupCommitStats = {
  readonly queued: number;
  readonly inFlight: number;
  readonly batches: number;
  readonly items: number;
  readonly failedBatches: number;
  readonly rejectedOverloaded: number;
  readonly largestBatch: number;
};

type Waiter<I, O> = {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
};

export class GroupCommit<I, O> {
  readonly #write: BatchWrite<I, O>;
  readonly #options: GroupCommitOptions;
  #queue: Waiter<I, O>[] = [];
  #inFlight = 0;
  #pausedUntil: TimerHandle | undefined;
  #closed = false;
  #idle: Array<() => void> = [];
  #batches = 0;
  #items = 0;
  #failedBatches = 0;
  #rejectedOverloaded = 0;
  #largestBatch = 0;

  constructor(write: BatchWrite<I, O>, options: GroupCommitOptions) {
    this.#write = write;
    this.#options = options;
  }

  /**
   * Queues one write; resolves with its outcome after its batch commits.
   * @throws {StoreOverloadedError} at once when the queue is full; {StoreUnavailableError} when its batch failed.
   */
  submit(item: I): Promise<O> {
    if (this.#closed) return Promise.reject(new GroupCommitClosedError(this.#options.name));
    if (this.#queue.length >= this.#options.maxQueued) {
      this.#rejectedOverloaded++;
      return Promise.reject(new StoreOverloadedError(this.#queue.length));
    }
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  /** Queues several writes at once (they may share a batch); all or none are queued. */
  submitAll(items: readonly I[]): Array<Promise<O>> {
    if (this.#closed) return items.map(() => Promise.reject(new GroupCommitClosedError(this.#options.name)));
    if (this.#queue.length + items.length > this.#options.maxQueued + this.#options.maxBatch) {
      this.#rejectedOverloaded += items.length;
      const error = new StoreOverloadedError(this.#queue.length);
      return items.map(() => Promise.reject(error));
    }
    const promises = items.map(
      (item) => new Promise<O>((resolve, reject) => this.#queue.push({ item, resolve, reject })),
    );
    this.#pump();
    return promises;
  }

  stats(): GroupCommitStats {
    return {
      queued: this.#queue.length,
      inFlight: this.#inFlight,
      batches: this.#batches,
      items: this.#items,
      failedBatches: this.#failedBatches,
      rejectedOverloaded: this.#rejectedOverloaded,
      largestBatch: this.#largestBatch,
    };
  }

  /** Writes what is queued, then refuses new writes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#pausedUntil) {
      this.#options.clock.clearTimeout(this.#pausedUntil);
      this.#pausedUntil = undefined;
      this.#pump();
    }
    if (this.#queue.length === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    if (this.#inFlight > 0 || this.#pausedUntil !== undefined || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.#options.maxBatch);
    this.#inFlight = batch.length;
    this.#largestBatch = Math.max(this.#largestBatch, batch.length);
    void this.#run(batch).finally(() => {
      this.#inFlight = 0;
      if (this.#queue.length === 0) {
        const idle = this.#idle;
        this.#idle = [];
        for (const resolve of idle) resolve();
      }
      this.#pump();
    });
  }

  async #run(batch: Array<Waiter<I, O>>): Promise<void> {
    let outcomes: ReadonlyArray<O | Error>;
    try {
      outcomes = await this.#write(batch.map((waiter) => waiter.item));
      if (outcomes.length !== batch.length) {
        throw new Error(`${this.#options.name}: batch of ${batch.length} returned ${outcomes.length} outcomes`);
      }
    } catch (error) {
      this.#failedBatches++;
      const failure = translateStoreError(error, `write a batch (${this.#options.name})`);
      for (const waiter of batch) waiter.reject(failure);
      if (!this.#closed && failure instanceof StoreUnavailableError) this.#pauseAfterFailure();
      return;
    }
    this.#batches++;
    this.#items += batch.length;
    batch.forEach((waiter, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof Error) waiter.reject(outcome);
      else waiter.resolve(outcome as O);
    });
  }

  /** The store is down: fail what waits now (callers answer 503 rather than hang) and try again later. */
  #pauseAfterFailure(): void {
    const waiting = this.#queue;
    this.#queue = [];
    const error = new StoreUnavailableError(`the store is unavailable (${this.#options.name}); retry later`);
    for (const waiter of waiting) waiter.reject(error);
    this.#pausedUntil = this.#options.clock.setTimeout(() => {
      this.#pausedUntil = undefined;
      this.#pump();
    }, this.#options.retryAfterFailureMs);
  }
}
