// Actor state snapshots in PostgreSQL: saves are written behind in coalesced batches, loads that arrive
// together are served by one query, and stored states are upgraded to the running code's schema version.
import type { DatabasePool } from 'slonik';
import { type Clock, systemClock, type TimerHandle } from '../time/Clock.ts';
import { pruneSnapshots, selectLatestSnapshots, type SnapshotRow, upsertSnapshots } from './snapshotSql.ts';
import { translateStoreError } from './StoreError.ts';
import { type SnapshotUpgrades, upgradeSnapshot } from './upgradeSnapshot.ts';

/** The latest state of one actor, already upgraded to the current schema version. */
export type Snapshot = {
  readonly key: string;
  readonly sequence: number;
  readonly schemaVersion: number;
  readonly state: unknown;
  /** When the row was written, ISO 8601. */
  readonly takenAt: string;
};

export type SnapshotStoreOptions = {
  /** The schema version this code writes and expects to read. */
  readonly currentVersion: number;
  /** `upgrades[v]` turns a version-`v` state into version `v + 1`. */
  readonly upgrades?: SnapshotUpgrades;
  readonly clock?: Clock;
  /** Most keys per load query and per write batch. Default 500. */
  readonly maxBatch?: number;
  /** How long a save may wait for others to share its batch. Default 50 ms. */
  readonly flushIntervalMs?: number;
  /** How long a load waits for others; 0 (default) gathers the loads of the current event-loop turn. */
  readonly loadWindowMs?: number;
  /** Rows kept per key, pruned in the same transaction as each write batch; null never prunes. Default 2. */
  readonly retainPerKey?: number | null;
};

export type SnapshotStoreStats = {
  /** load() calls. */
  readonly loads: number;
  /** SELECT statements issued to serve loads. */
  readonly loadQueries: number;
  /** save() calls accepted. */
  readonly writes: number;
  /** Upsert statements issued, one per write batch. */
  readonly writeQueries: number;
  /** Retention DELETE statements issued with write batches. */
  readonly pruneQueries: number;
  /** Rows upserted by committed batches. */
  readonly rowsWritten: number;
  /** save() calls folded into a pending save of the same key instead of writing a row of their own. */
  readonly coalescedWrites: number;
  /** save() calls rejected because their batch failed. */
  readonly failedWrites: number;
  /** save() calls not yet settled, queued or in flight. */
  readonly pendingWrites: number;
};

export type SnapshotStoreStatus = 'open' | 'closing' | 'closed';

/** A call reached the store after close() began. */
export class SnapshotStoreClosedError extends Error {
  readonly action: string;

  constructor(action: string) {
    super(`cannot ${action}: the snapshot store is closed`);
    this.name = 'SnapshotStoreClosedError';
    this.action = action;
  }
}

type Waiter<T> = { readonly resolve: (value: T) => void; readonly reject: (error: unknown) => void };

/** Everything saved for one key since its last batch; only the newest state is written. */
type PendingWrite = {
  readonly key: string;
  sequence: number;
  json: string;
  readonly waiters: Waiter<void>[];
  /** Settles (never rejects) when the batch holding this write ends, with its error if it failed. */
  readonly settled: PromiseWithResolvers<{ readonly error: unknown } | null>;
};

type CompiledOptions = {
  readonly currentVersion: number;
  readonly upgrades: SnapshotUpgrades;
  readonly clock: Clock;
  readonly maxBatch: number;
  readonly flushIntervalMs: number;
  readonly loadWindowMs: number;
  readonly retainPerKey: number | null;
};

/**
 * Batched, write-behind store of actor snapshots. It does not own the pool: close() flushes and stops
 * the timers but leaves the pool open.
 * @example
 * const snapshots = new SnapshotStore(pool, { currentVersion: 2, upgrades: { 1: (s) => ({ ...(s as object), caps: {} }) } });
 * await snapshots.save('recipient:t1:user-1', 42, state);
 * const latest = await snapshots.load('recipient:t1:user-1');
 */
export class SnapshotStore {
  readonly #pool: DatabasePool;
  readonly #options: CompiledOptions;
  #status: SnapshotStoreStatus = 'open';
  #closing: Promise<void> | undefined;
  readonly #stats = {
    loads: 0,
    loadQueries: 0,
    writes: 0,
    writeQueries: 0,
    pruneQueries: 0,
    rowsWritten: 0,
    coalescedWrites: 0,
    failedWrites: 0,
    pendingWrites: 0,
  };

  readonly #loadQueue = new Map<string, Waiter<Snapshot | null>[]>();
  #loadTimer: { cancel(): void } | undefined;
  readonly #loadsInFlight = new Set<Promise<void>>();

  readonly #writeQueue = new Map<string, PendingWrite>();
  readonly #writesInFlight = new Map<string, PendingWrite>();
  #flushTimer: TimerHandle | undefined;
  #writing = false;

  constructor(pool: DatabasePool, options: SnapshotStoreOptions) {
    this.#pool = pool;
    this.#options = compileOptions(options);
  }

  /** 'open', 'closing' while close() drains, then 'closed'. */
  get status(): SnapshotStoreStatus {
    return this.#status;
  }

  /** A copy of the counters. */
  stats(): SnapshotStoreStats {
    return { ...this.#stats };
  }

  /**
   * The latest snapshot of `key`, upgraded to the current schema version, or null when there is none.
   * Loads arriving together share one query; a save of the key still pending is written first.
   * @throws {SnapshotVersionError} when the stored version is too new or an upgrade step is missing.
   * @throws {SnapshotUpgradeError} when an upgrade step throws.
   */
  async load(key: string): Promise<Snapshot | null> {
    this.#assertOpen('load a snapshot');
    this.#stats.loads++;
    const { promise, resolve, reject } = Promise.withResolvers<Snapshot | null>();
    const waiters = this.#loadQueue.get(key);
    if (waiters) waiters.push({ resolve, reject });
    else this.#loadQueue.set(key, [{ resolve, reject }]);
    if (this.#loadQueue.size >= this.#options.maxBatch) this.#dispatchLoads();
    else this.#scheduleLoads();
    return promise;
  }

  /**
   * Queues `state` as snapshot `sequence` of `key`; resolves when its batch commits, rejects with the
   * translated store error when the batch fails. The state is serialised now, so later mutation of
   * the object does not change what is written.
   */
  async save(key: string, sequence: number, state: unknown): Promise<void> {
    this.#assertOpen('save a snapshot');
    if (!Number.isSafeInteger(sequence) || sequence < 0)
      throw new RangeError(`snapshot sequence of ${key} must be a non-negative safe integer, got ${sequence}`);
    const json = serialise(key, state);
    this.#stats.writes++;
    this.#stats.pendingWrites++;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const pending = this.#writeQueue.get(key);
    if (pending) {
      // One row per key per batch: the upsert cannot touch the same primary key twice in one statement.
      this.#stats.coalescedWrites++;
      if (sequence >= pending.sequence) {
        pending.sequence = sequence;
        pending.json = json;
      }
      pending.waiters.push({ resolve, reject });
    } else {
      this.#writeQueue.set(key, {
        key,
        sequence,
        json,
        waiters: [{ resolve, reject }],
        settled: Promise.withResolvers(),
      });
    }
    if (this.#writeQueue.size >= this.#options.maxBatch) this.#startWriter();
    else this.#scheduleFlush();
    return promise;
  }

  /**
   * Writes everything pending now and waits for it; used on passivation and shutdown.
   * @throws the translated error of the first failed batch (each failed save also rejects on its own).
   */
  async flush(): Promise<void> {
    this.#assertOpen('flush snapshots');
    await this.#flushPending();
  }

  /**
   * Deletes all but the newest `keepLatest` snapshots of every key, in one statement.
   * @returns the number of rows deleted.
   */
  async prune(options: { readonly keepLatest: number }): Promise<number> {
    this.#assertOpen('prune snapshots');
    assertPositiveInteger('keepLatest', options.keepLatest);
    try {
      const result = await this.#pool.query(pruneSnapshots(options.keepLatest, null));
      return result.rowCount;
    } catch (error) {
      throw translateStoreError(error, 'prune actor snapshots');
    }
  }

  /** Serves queued loads, flushes pending saves and stops the timers. Idempotent; later calls throw. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#status = 'closing';
    this.#dispatchLoads();
    try {
      await this.#flushPending();
    } finally {
      await Promise.all(this.#loadsInFlight);
      this.#cancelFlushTimer();
      this.#status = 'closed';
    }
  }

  #assertOpen(action: string): void {
    if (this.#status !== 'open') throw new SnapshotStoreClosedError(action);
  }

  // ---- loads

  #scheduleLoads(): void {
    if (this.#loadTimer) return;
    const { clock, loadWindowMs } = this.#options;
    if (loadWindowMs > 0) {
      const handle = clock.setTimeout(() => this.#dispatchLoads(), loadWindowMs);
      this.#loadTimer = { cancel: () => clock.clearTimeout(handle) };
    } else {
      // Not time but turn-taking: setImmediate runs after the promise continuations of this turn,
      // so actors activated by one burst of work land in one batch.
      const immediate = setImmediate(() => this.#dispatchLoads());
      this.#loadTimer = { cancel: () => clearImmediate(immediate) };
    }
  }

  #dispatchLoads(): void {
    this.#loadTimer?.cancel();
    this.#loadTimer = undefined;
    while (this.#loadQueue.size > 0) {
      const chunk = new Map<string, Waiter<Snapshot | null>[]>();
      for (const [key, waiters] of this.#loadQueue) {
        if (chunk.size >= this.#options.maxBatch) break;
        chunk.set(key, waiters);
      }
      for (const key of chunk.keys()) this.#loadQueue.delete(key);
      const running = this.#runLoadBatch(chunk).finally(() => this.#loadsInFlight.delete(running));
      this.#loadsInFlight.add(running);
    }
  }

  /** Never rejects: every outcome goes to the waiters. */
  async #runLoadBatch(chunk: Map<string, Waiter<Snapshot | null>[]>): Promise<void> {
    const keys = [...chunk.keys()];
    let rows: readonly SnapshotRow[];
    try {
      await this.#awaitPendingWrites(keys);
      this.#stats.loadQueries++;
      rows = await this.#pool.any(selectLatestSnapshots(keys));
    } catch (error) {
      const translated = translateStoreError(error, `load ${keys.length} actor snapshots`);
      for (const waiters of chunk.values()) for (const waiter of waiters) waiter.reject(translated);
      return;
    }
    const byKey = new Map(rows.map((row) => [row.persistence_key, row]));
    for (const [key, waiters] of chunk) {
      const row = byKey.get(key);
      let snapshot: Snapshot | null;
      try {
        snapshot = row === undefined ? null : this.#toSnapshot(row);
      } catch (error) {
        for (const waiter of waiters) waiter.reject(error);
        continue;
      }
      // Callers of the same key each get their own state object to mutate.
      waiters.forEach((waiter, index) =>
        waiter.resolve(index === 0 || snapshot === null ? snapshot : structuredClone(snapshot)),
      );
    }
  }

  /** Read-your-writes: a load waits for pending saves of its keys, so it never returns an older state. */
  async #awaitPendingWrites(keys: readonly string[]): Promise<void> {
    const settled: Promise<unknown>[] = [];
    for (const key of keys) {
      const pending = this.#writeQueue.get(key) ?? this.#writesInFlight.get(key);
      if (pending) settled.push(pending.settled.promise);
    }
    if (settled.length === 0) return;
    this.#startWriter();
    await Promise.all(settled);
  }

  #toSnapshot(row: SnapshotRow): Snapshot {
    const { currentVersion, upgrades } = this.#options;
    const key = row.persistence_key;
    return {
      key,
      sequence: toSafeNumber(row.sequence, key),
      schemaVersion: currentVersion,
      state: upgradeSnapshot(key, row.state, row.schema_version, currentVersion, upgrades),
      takenAt: new Date(row.taken_at).toISOString(),
    };
  }

  // ---- writes

  #scheduleFlush(): void {
    // A running writer takes whatever is queued when its batch ends.
    if (this.#writing || this.#flushTimer) return;
    this.#flushTimer = this.#options.clock.setTimeout(() => {
      this.#flushTimer = undefined;
      this.#startWriter();
    }, this.#options.flushIntervalMs);
  }

  #cancelFlushTimer(): void {
    if (this.#flushTimer) this.#options.clock.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }

  #startWriter(): void {
    this.#cancelFlushTimer();
    if (this.#writing || this.#writeQueue.size === 0) return;
    this.#writing = true;
    // #drain never rejects: each batch's outcome is delivered to its waiters.
    void this.#drain();
  }

  /** Writes batches one after another until the queue is empty, so batches of one key never race. */
  async #drain(): Promise<void> {
    try {
      while (this.#writeQueue.size > 0) {
        const batch: PendingWrite[] = [];
        for (const pending of this.#writeQueue.values()) {
          if (batch.length >= this.#options.maxBatch) break;
          batch.push(pending);
        }
        for (const pending of batch) {
          this.#writeQueue.delete(pending.key);
          this.#writesInFlight.set(pending.key, pending);
        }
        await this.#writeBatch(batch);
      }
    } finally {
      this.#writing = false;
    }
  }

  /** One upsert (plus one retention delete, in the same transaction); never rejects. */
  async #writeBatch(batch: readonly PendingWrite[]): Promise<void> {
    let outcome: { readonly error: unknown } | null = null;
    try {
      const { currentVersion, retainPerKey } = this.#options;
      const upsert = upsertSnapshots(
        batch.map((pending) => [pending.key, pending.sequence, pending.json] as const),
        currentVersion,
      );
      this.#stats.writeQueries++;
      if (retainPerKey === null) {
        await this.#pool.query(upsert);
      } else {
        const keys = batch.map((pending) => pending.key);
        await this.#pool.transaction(async (tx) => {
          await tx.query(upsert);
          this.#stats.pruneQueries++;
          await tx.query(pruneSnapshots(retainPerKey, keys));
        });
      }
      this.#stats.rowsWritten += batch.length;
    } catch (error) {
      outcome = { error: translateStoreError(error, `write ${batch.length} actor snapshots`) };
    }
    for (const pending of batch) {
      if (this.#writesInFlight.get(pending.key) === pending) this.#writesInFlight.delete(pending.key);
      this.#stats.pendingWrites -= pending.waiters.length;
      if (outcome === null) {
        for (const waiter of pending.waiters) waiter.resolve();
      } else {
        this.#stats.failedWrites += pending.waiters.length;
        for (const waiter of pending.waiters) waiter.reject(outcome.error);
      }
      pending.settled.resolve(outcome);
    }
  }

  async #flushPending(): Promise<void> {
    const pending = [...this.#writeQueue.values(), ...this.#writesInFlight.values()];
    if (pending.length === 0) return;
    this.#startWriter();
    const outcomes = await Promise.all(pending.map((write) => write.settled.promise));
    const failed = outcomes.find((outcome) => outcome !== null);
    if (failed) throw failed.error;
  }
}

function compileOptions(options: SnapshotStoreOptions): CompiledOptions {
  const compiled: CompiledOptions = {
    currentVersion: options.currentVersion,
    upgrades: options.upgrades ?? {},
    clock: options.clock ?? systemClock(),
    maxBatch: options.maxBatch ?? 500,
    flushIntervalMs: options.flushIntervalMs ?? 50,
    loadWindowMs: options.loadWindowMs ?? 0,
    retainPerKey: options.retainPerKey === undefined ? 2 : options.retainPerKey,
  };
  assertPositiveInteger('currentVersion', compiled.currentVersion);
  assertPositiveInteger('maxBatch', compiled.maxBatch);
  if (!(compiled.flushIntervalMs >= 0)) throw new RangeError('flushIntervalMs must be 0 or more');
  if (!(compiled.loadWindowMs >= 0)) throw new RangeError('loadWindowMs must be 0 or more');
  if (compiled.retainPerKey !== null) assertPositiveInteger('retainPerKey', compiled.retainPerKey);
  return Object.freeze(compiled);
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

function serialise(key: string, state: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(state);
  } catch (error) {
    throw new TypeError(`snapshot state of ${key} cannot be serialised to JSON`, { cause: error });
  }
  if (json === undefined) throw new TypeError(`snapshot state of ${key} cannot be serialised to JSON`);
  return json;
}

function toSafeNumber(value: bigint, key: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`snapshot sequence ${value} of ${key} is beyond 2^53`);
  return n;
}
