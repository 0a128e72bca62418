// One snapshot-store suite, run against PostgreSQL and against the embedded PGlite store: batched loads,
// write-behind with coalescing and size/time batching, schema upgrades, retention and failed batches.
import { sql } from 'slonik';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { migrate } from '../../runtime/persistence/migrate.ts';
import {
  SnapshotStore,
  SnapshotStoreClosedError,
  type SnapshotStoreOptions,
} from '../../runtime/persistence/SnapshotStore.ts';
import { SnapshotVersionError } from '../../runtime/persistence/upgradeSnapshot.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';
import { STORES_UNDER_TEST, type StoreUnderTest } from '../support/storesUnderTest.ts';

const stores = STORES_UNDER_TEST;

/** Reports whether a promise has settled, without awaiting it (and marks its rejection as handled). */
function track(promise: Promise<unknown>): { readonly settled: boolean } {
  const state = { settled: false };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

describe.each(stores)('snapshot store on %s', (_name, open) => {
  let store: StoreUnderTest;
  let clock: FakeClock;
  let opened: SnapshotStore[] = [];

  const snapshots = (options: Partial<SnapshotStoreOptions> = {}): SnapshotStore => {
    const snapshotStore = new SnapshotStore(store.database.pool, { currentVersion: 1, clock, ...options });
    opened.push(snapshotStore);
    return snapshotStore;
  };

  const rowsOf = async (key: string) =>
    store.database.pool.any(
      sql.type(z.object({ sequence: z.bigint(), state: z.unknown() }))`
        SELECT sequence, state FROM actor_snapshots WHERE persistence_key = ${key} ORDER BY sequence`,
    );

  const rowCount = async () =>
    store.database.pool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM actor_snapshots`);

  beforeAll(async () => {
    store = await open();
    await migrate(store.database.pool);
  });

  beforeEach(async () => {
    clock = new FakeClock(1_000);
    await store.database.pool.query(sql.unsafe`TRUNCATE actor_snapshots`);
  });

  afterEach(async () => {
    // Tests that provoke failures leave nothing pending, so closing must succeed.
    await Promise.all(opened.map((s) => s.close()));
    opened = [];
  });

  afterAll(async () => {
    await store?.cleanup();
  });

  it('round-trips a snapshot through save, flush and load', async () => {
    const s = snapshots();
    const state = { counters: { email: 2 }, optedOut: false };
    const saved = s.save('recipient:t1:u1', 7, state);
    state.counters.email = 99; // serialised at save time: later mutation is not written
    await s.flush();
    await saved;
    const loaded = await s.load('recipient:t1:u1');
    expect(loaded).toMatchObject({
      key: 'recipient:t1:u1',
      sequence: 7,
      schemaVersion: 1,
      state: { counters: { email: 2 }, optedOut: false },
    });
    expect(loaded?.takenAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(loaded?.takenAt ?? '') - Date.now())).toBeLessThan(60_000);
    expect(await s.load('recipient:t1:nobody')).toBeNull();
  });

  it('loads the highest sequence of each key, whatever the order of writing', async () => {
    const s = snapshots({ retainPerKey: null });
    for (const [key, sequence] of [
      ['a', 1],
      ['a', 3],
      ['b', 10],
      ['a', 2],
      ['b', 9],
    ] as const) {
      await Promise.all([s.save(key, sequence, { key, sequence }), s.flush()]);
    }
    const [a, b] = await Promise.all([s.load('a'), s.load('b')]);
    expect(a).toMatchObject({ sequence: 3, state: { key: 'a', sequence: 3 } });
    expect(b).toMatchObject({ sequence: 10, state: { key: 'b', sequence: 10 } });
    expect(s.stats().loadQueries).toBe(1);
    expect((await rowsOf('a')).map((row) => row.sequence)).toEqual([1n, 2n, 3n]);
  });

  it('serves 1,000 concurrent loads with at most 3 queries', async () => {
    const writer = snapshots();
    const keys = Array.from({ length: 1_000 }, (_, i) => `recipient:t1:${i}`);
    await Promise.all([...keys.slice(0, 900).map((key, i) => writer.save(key, i, { i })), writer.flush()]);
    expect(writer.stats()).toMatchObject({ writes: 900, writeQueries: 2, rowsWritten: 900, pendingWrites: 0 });

    const reader = snapshots();
    // Activations arrive from different continuations of the same turn, not from one synchronous loop.
    const loaded = await Promise.all(
      keys.map(async (key, i) => {
        for (let hop = 0; hop < i % 4; hop++) await Promise.resolve();
        return reader.load(key);
      }),
    );
    expect(loaded.slice(0, 900).map((snapshot) => snapshot?.state)).toEqual(
      Array.from({ length: 900 }, (_, i) => ({ i })),
    );
    expect(loaded.slice(900).every((snapshot) => snapshot === null)).toBe(true);
    expect(reader.stats().loads).toBe(1_000);
    expect(reader.stats().loadQueries).toBeLessThanOrEqual(3);
    expect(reader.stats().loadQueries).toBe(2);
  });

  it('with a load window, gathers loads until the injected clock passes it', async () => {
    const s = snapshots({ loadWindowMs: 10 });
    await Promise.all([s.save('window:a', 1, { a: 1 }), s.save('window:b', 1, { b: 1 }), s.flush()]);
    const first = s.load('window:a');
    clock.advance(9);
    const second = s.load('window:b');
    const progress = track(first);
    await new Promise((resolve) => setImmediate(resolve));
    expect(progress.settled).toBe(false);
    expect(s.stats().loadQueries).toBe(0);
    clock.advance(1);
    expect(await Promise.all([first, second])).toMatchObject([{ state: { a: 1 } }, { state: { b: 1 } }]);
    expect(s.stats().loadQueries).toBe(1);
  });

  it('refuses a bad sequence or an unserialisable state at the call, leaving the batch alone', async () => {
    const s = snapshots();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(s.save('bad', -1, {})).rejects.toBeInstanceOf(RangeError);
    await expect(s.save('bad', 1.5, {})).rejects.toBeInstanceOf(RangeError);
    await expect(s.save('bad', 1, cyclic)).rejects.toBeInstanceOf(TypeError);
    await expect(s.save('bad', 1, undefined)).rejects.toBeInstanceOf(TypeError);
    await expect(s.save('bad', 1, { big: 1n })).rejects.toBeInstanceOf(TypeError);
    await Promise.all([s.save('good', 1, {}), s.flush()]);
    expect(s.stats()).toMatchObject({ writes: 1, rowsWritten: 1, failedWrites: 0 });
  });

  it('gives every caller of one key its own copy, from one query', async () => {
    const s = snapshots();
    await Promise.all([s.save('shared', 1, { list: [1] }), s.flush()]);
    const [first, second] = await Promise.all([s.load('shared'), s.load('shared')]);
    expect(first?.state).toEqual({ list: [1] });
    expect(second?.state).toEqual({ list: [1] });
    expect(first?.state).not.toBe(second?.state);
    expect(s.stats().loadQueries).toBe(1);
  });

  it('coalesces pending saves of one key into one row, settling every caller', async () => {
    const s = snapshots();
    const saves = [
      s.save('coalesce', 1, { v: 1 }),
      s.save('coalesce', 3, { v: 3 }),
      s.save('coalesce', 2, { v: 2 }), // older than a pending save: its caller is answered, its state is not written
      s.save('coalesce', 3, { v: 'last' }), // same sequence again: the later call wins
    ];
    expect(s.stats()).toMatchObject({ writes: 4, pendingWrites: 4, coalescedWrites: 3 });
    await s.flush();
    await expect(Promise.all(saves)).resolves.toHaveLength(4);
    expect(s.stats()).toMatchObject({ writeQueries: 1, rowsWritten: 1, pendingWrites: 0, failedWrites: 0 });
    expect(await rowsOf('coalesce')).toEqual([{ sequence: 3n, state: { v: 'last' } }]);
  });

  it('writes a batch as soon as it holds maxBatch keys, without the timer', async () => {
    const s = snapshots({ maxBatch: 10 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => s.save(`size:${i}`, 1, { i })));
    expect(s.stats()).toMatchObject({ writeQueries: 1, rowsWritten: 10, pendingWrites: 0 });
    expect(clock.pending).toBe(0);

    // 25 keys: full batches go at once, the rest follow as soon as the writer is free.
    await Promise.all(Array.from({ length: 25 }, (_, i) => s.save(`size:more:${i}`, 1, { i })));
    expect(s.stats()).toMatchObject({ writeQueries: 4, rowsWritten: 35 });
    expect(await rowCount()).toBe(35);
  });

  it('writes a partial batch when the flush interval passes on the injected clock', async () => {
    const s = snapshots({ flushIntervalMs: 50 });
    const saves = ['t:1', 't:2', 't:3'].map((key) => s.save(key, 1, { key }));
    const progress = saves.map(track);
    expect(clock.pending).toBe(1);
    clock.advance(49);
    expect(s.stats().writeQueries).toBe(0);
    expect(progress.some((p) => p.settled)).toBe(false);
    clock.advance(1);
    expect(s.stats().writeQueries).toBe(1);
    await Promise.all(saves);
    expect(s.stats()).toMatchObject({ rowsWritten: 3, pendingWrites: 0 });
    expect(clock.pending).toBe(0);
    expect(await rowCount()).toBe(3);
  });

  it('writes a pending save before loading its key (read your writes)', async () => {
    const s = snapshots();
    const saved = s.save('ryw', 5, { fresh: true });
    expect(await s.load('ryw')).toMatchObject({ sequence: 5, state: { fresh: true } });
    await saved;
    expect(s.stats()).toMatchObject({ writeQueries: 1, loadQueries: 1 });
  });

  it('upgrades stored states along the chain and refuses versions newer than the code', async () => {
    const v1 = snapshots({ currentVersion: 1 });
    const v2 = snapshots({ currentVersion: 2 });
    await Promise.all([v1.save('old', 4, { count: 4 }), v1.flush()]);
    await Promise.all([v2.save('mid', 2, { count: 2, caps: { sms: 1 } }), v2.flush()]);

    const calls: number[] = [];
    const v3 = snapshots({
      currentVersion: 3,
      upgrades: {
        1: (state) => {
          calls.push(1);
          return { ...(state as { count: number }), caps: {} };
        },
        2: (state) => {
          calls.push(2);
          const { count, ...rest } = state as { count: number };
          return { ...rest, counters: { sent: count } };
        },
      },
    });
    const [old, mid] = await Promise.all([v3.load('old'), v3.load('mid')]);
    expect(old).toMatchObject({ sequence: 4, schemaVersion: 3, state: { caps: {}, counters: { sent: 4 } } });
    expect(mid).toMatchObject({ sequence: 2, schemaVersion: 3, state: { caps: { sms: 1 }, counters: { sent: 2 } } });
    expect(calls.sort()).toEqual([1, 2, 2]);

    await Promise.all([v3.save('new', 1, { counters: {} }), v3.flush()]);
    // A bad key fails alone; the other keys of the same query are served.
    const [tooNew, fine] = await Promise.allSettled([v1.load('new'), v1.load('old')]);
    expect(tooNew.status).toBe('rejected');
    const reason = tooNew.status === 'rejected' ? (tooNew.reason as unknown) : undefined;
    expect(reason).toBeInstanceOf(SnapshotVersionError);
    expect(reason).toMatchObject({ key: 'new', storedVersion: 3, currentVersion: 1 });
    expect(fine).toMatchObject({ status: 'fulfilled', value: { state: { count: 4 } } });
    expect(v1.stats().loadQueries).toBe(1);

    const gappy = snapshots({ currentVersion: 3, upgrades: { 2: (state) => state } });
    await expect(gappy.load('old')).rejects.toMatchObject({
      name: 'SnapshotVersionError',
      storedVersion: 1,
      missingStep: 1,
    });
  });

  it('keeps the newest retainPerKey rows per key with each batch, one prune per batch', async () => {
    const s = snapshots({ retainPerKey: 2 });
    for (let sequence = 1; sequence <= 5; sequence++) {
      await Promise.all([s.save('kept:a', sequence, { sequence }), s.save('kept:b', sequence * 10, {}), s.flush()]);
    }
    expect((await rowsOf('kept:a')).map((row) => row.sequence)).toEqual([4n, 5n]);
    expect((await rowsOf('kept:b')).map((row) => row.sequence)).toEqual([40n, 50n]);
    expect(s.stats()).toMatchObject({ writeQueries: 5, pruneQueries: 5 });
  });

  it('prunes every key down to its newest N in one statement', async () => {
    const s = snapshots({ retainPerKey: null });
    for (let sequence = 1; sequence <= 4; sequence++) {
      const q = sequence <= 3 ? s.save('prune:q', sequence, {}) : null;
      await Promise.all([s.save('prune:p', sequence, {}), q, s.flush()]);
    }
    await Promise.all([s.save('prune:r', 1, {}), s.flush()]);
    expect(await rowCount()).toBe(8);
    expect(await s.prune({ keepLatest: 2 })).toBe(3);
    expect((await rowsOf('prune:p')).map((row) => row.sequence)).toEqual([3n, 4n]);
    expect((await rowsOf('prune:q')).map((row) => row.sequence)).toEqual([2n, 3n]);
    expect((await rowsOf('prune:r')).map((row) => row.sequence)).toEqual([1n]);
    expect(await s.prune({ keepLatest: 2 })).toBe(0);
    await expect(s.prune({ keepLatest: 0 })).rejects.toBeInstanceOf(RangeError);
  });

  it('rejects every waiter of a failed batch, counts them, and keeps working afterwards', async () => {
    const s = snapshots();
    // PostgreSQL's jsonb refuses the \u0000 escape, so the whole batch fails on the server.
    const batch = [
      s.save('fail:good', 1, { ok: true }),
      s.save('fail:good', 2, { ok: true }),
      s.save('fail:poison', 1, { text: 'a\u0000b' }),
    ];
    const settled = Promise.allSettled(batch);
    await expect(s.flush()).rejects.toThrow(/unicode|\\u0000/i);
    const outcomes = await settled;
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const reasons = outcomes.map((outcome) => (outcome.status === 'rejected' ? (outcome.reason as unknown) : null));
    expect(new Set(reasons).size).toBe(1);
    expect(s.stats()).toMatchObject({ writes: 3, failedWrites: 3, pendingWrites: 0, rowsWritten: 0 });
    expect(await rowCount()).toBe(0);

    // The store is not stuck: the next saves are written.
    await Promise.all([s.save('fail:good', 3, { ok: 'again' }), s.flush()]);
    expect(await s.load('fail:good')).toMatchObject({ sequence: 3, state: { ok: 'again' } });
    expect(s.stats()).toMatchObject({ failedWrites: 3, rowsWritten: 1 });
  });

  it('rejects saves while the table is unreachable and writes again once it is back', async () => {
    const s = snapshots();
    await store.database.pool.query(sql.unsafe`ALTER TABLE actor_snapshots RENAME TO actor_snapshots_away`);
    try {
      const saved = s.save('outage', 1, {});
      const timed = track(saved);
      clock.advance(50); // the interval flush, not an explicit one
      await expect(saved).rejects.toThrow(/actor_snapshots/);
      expect(timed.settled).toBe(true);
      await expect(s.load('outage')).rejects.toThrow(/actor_snapshots/);
    } finally {
      await store.database.pool.query(sql.unsafe`ALTER TABLE actor_snapshots_away RENAME TO actor_snapshots`);
    }
    expect(s.stats()).toMatchObject({ failedWrites: 1, pendingWrites: 0 });
    await Promise.all([s.save('outage', 2, { back: true }), s.flush()]);
    expect(await s.load('outage')).toMatchObject({ sequence: 2, state: { back: true } });
  });

  it('flushes on close, stops its timer, and refuses calls afterwards', async () => {
    const s = snapshots();
    const saved = s.save('closing', 1, { last: true });
    expect(clock.pending).toBe(1);
    const closed = s.close();
    expect(s.status).toBe('closing');
    expect(s.close()).toBe(closed);
    await closed;
    await saved;
    expect(s.status).toBe('closed');
    expect(clock.pending).toBe(0);
    await expect(s.save('closing', 2, {})).rejects.toBeInstanceOf(SnapshotStoreClosedError);
    await expect(s.load('closing')).rejects.toBeInstanceOf(SnapshotStoreClosedError);
    await expect(s.flush()).rejects.toBeInstanceOf(SnapshotStoreClosedError);
    await expect(s.prune({ keepLatest: 1 })).rejects.toBeInstanceOf(SnapshotStoreClosedError);
    expect(await rowsOf('closing')).toEqual([{ sequence: 1n, state: { last: true } }]);
  });
});
