import { describe, expect, it } from 'vitest';
import { GroupCommit, GroupCommitClosedError, StoreOverloadedError } from '../../runtime/persistence/GroupCommit.ts';
import { StoreUnavailableError } from '../../runtime/persistence/StoreError.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';

/** A batch writer under test control: each call waits until the test releases it. */
function controlledWriter() {
  const calls: number[][] = [];
  const pending: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  const write = (items: readonly number[]) => {
    calls.push([...items]);
    return new Promise<Array<number | Error>>((resolve, reject) => {
      pending.push({
        resolve: () => resolve(items.map((n) => (n < 0 ? new RangeError(`negative ${n}`) : n * 10))),
        reject,
      });
    });
  };
  return { calls, pending, write };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  const options = (clock = new FakeClock()) => ({
    name: 'test',
    maxBatch: 3,
    maxQueued: 5,
    retryAfterFailureMs: 1_000,
    clock,
  });

  it('writes the first item at once and groups what arrives meanwhile into the next batch', async () => {
    const writer = controlledWriter();
    const commit = new GroupCommit(writer.write, options());
    const results = [1, 2, 3, 4, 5, 6].map((n) => commit.submit(n));
    expect(writer.calls).toEqual([[1]]);
    writer.pending.shift()?.resolve();
    await tick();
    expect(writer.calls).toEqual([[1], [2, 3, 4]]);
    writer.pending.shift()?.resolve();
    await tick();
    writer.pending.shift()?.resolve();
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(writer.calls).toEqual([[1], [2, 3, 4], [5, 6]]);
    expect(commit.stats()).toMatchObject({ batches: 3, items: 6, largestBatch: 3, queued: 0 });
  });

  it('answers each caller only after its own batch commits', async () => {
    const writer = controlledWriter();
    const commit = new GroupCommit(writer.write, options());
    let settled = false;
    const first = commit.submit(1).then(() => {
      settled = true;
    });
    await tick();
    expect(settled).toBe(false);
    writer.pending.shift()?.resolve();
    await first;
    expect(settled).toBe(true);
  });

  it('refuses writes past the queue bound with StoreOverloadedError', async () => {
    const writer = controlledWriter();
    const commit = new GroupCommit(writer.write, options());
    const accepted = [0, 1, 2, 3, 4, 5].map((n) => commit.submit(n));
    await expect(commit.submit(6)).rejects.toBeInstanceOf(StoreOverloadedError);
    await expect(commit.submit(7)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(commit.stats().rejectedOverloaded).toBe(2);
    while (writer.pending.length > 0 || commit.stats().queued > 0) {
      writer.pending.shift()?.resolve();
      await tick();
    }
    expect(await Promise.all(accepted)).toHaveLength(6);
  });

  it('rejects every waiter of a failed batch, fails what waits, pauses, then recovers by itself', async () => {
    const clock = new FakeClock();
    const writer = controlledWriter();
    const commit = new GroupCommit(writer.write, options(clock));
    const inFailedBatch = commit.submit(1);
    const waiting = commit.submit(2);
    writer.pending
      .shift()
      ?.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    await expect(inFailedBatch).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(waiting).rejects.toBeInstanceOf(StoreUnavailableError);

    const afterOutage = commit.submit(3);
    await tick();
    expect(writer.calls).toEqual([[1]]);
    clock.advance(1_000);
    expect(writer.calls).toEqual([[1], [3]]);
    writer.pending.shift()?.resolve();
    expect(await afterOutage).toBe(30);
    expect(commit.stats().failedBatches).toBe(1);
  });

  it('rejects only the items the writer refuses on their own', async () => {
    const writer = controlledWriter();
    const commit = new GroupCommit(writer.write, options());
    const first = commit.submit(1);
    const results = [commit.submit(2), commit.submit(-1), commit.submit(3)];
    writer.pending.shift()?.resolve();
    await first;
    await tick();
    writer.pending.shift()?.resolve();
    const settled = await Promise.allSettled(results);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('writes what is queued on close and refuses later writes', async () => {
    const writer = controlledWriter();
    const commit = new GroupCommit(writer.write, options());
    const queued = [commit.submit(1), commit.submit(2)];
    const closed = commit.close();
    writer.pending.shift()?.resolve();
    await tick();
    writer.pending.shift()?.resolve();
    await closed;
    expect(await Promise.all(queued)).toEqual([10, 20]);
    await expect(commit.submit(3)).rejects.toBeInstanceOf(GroupCommitClosedError);
  });
});
