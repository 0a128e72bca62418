// The scheduler on a fake clock against an in-memory stand-in for the store's scheduled query.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import type { PendingMessage, ScheduleCursor } from '../../runtime/messages/MessageStore.ts';
import { Scheduler } from '../../runtime/service/Scheduler.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';
import { until } from './kernel/support.ts';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function scheduled(rows: Array<{ id: string; sendAt: number }>) {
  const queries: Array<{ after: ScheduleCursor; upTo: number }> = [];
  return {
    queries,
    dueScheduled: (after: ScheduleCursor, upTo: number, limit: number) => {
      queries.push({ after, upTo });
      const due = rows
        .filter(
          (row) =>
            (row.sendAt > after.sendAt || (row.sendAt === after.sendAt && row.id > after.id)) && row.sendAt <= upTo,
        )
        .sort((a, b) => a.sendAt - b.sendAt || (a.id < b.id ? -1 : 1))
        .slice(0, limit)
        .map((row) => ({
          ...row,
          tenant: 't',
          channel: 'email' as const,
          recipientId: 'u',
          state: 'accepted' as const,
          priority: 'marketing' as const,
        }));
      return Promise.resolve(due);
    },
  };
}

describe('Scheduler', () => {
  it('routes each message once, when it falls due, never before', async () => {
    const clock = new FakeClock(10_000);
    const store = scheduled([
      { id: 'a', sendAt: 9_000 }, // due before start: recovery's, not the scheduler's
      { id: 'b', sendAt: 10_500 },
      { id: 'c', sendAt: 12_000 },
      { id: 'd', sendAt: 12_000 },
      { id: 'e', sendAt: 15_000 },
    ]);
    const routed: Array<{ id: string; at: number }> = [];
    const scheduler = new Scheduler({
      store,
      deliver: (message: PendingMessage) => routed.push({ id: message.id, at: clock.now() }),
      clock,
      logger: quiet,
      from: clock.now(),
    });
    scheduler.start();
    for (let t = 0; t < 6; t++) {
      clock.advance(1_000);
      // The tick has run and armed the next one.
      await until(() => store.queries.length > t && clock.pending === 1, `tick ${t}`);
    }
    await scheduler.stop();
    expect(routed).toEqual([
      { id: 'b', at: 11_000 },
      { id: 'c', at: 12_000 },
      { id: 'd', at: 12_000 },
      { id: 'e', at: 15_000 },
    ]);
    expect(scheduler.routed).toBe(4);
    expect(scheduler.status).toBe('stopped');
  });

  it('reads a backlog of due messages batch by batch without waiting between full batches', async () => {
    const clock = new FakeClock(0);
    const rows = Array.from({ length: 25 }, (_, i) => ({ id: `m${String(i).padStart(2, '0')}`, sendAt: 500 }));
    const store = scheduled(rows);
    const routed: string[] = [];
    const scheduler = new Scheduler({
      store,
      deliver: (message) => routed.push(message.id),
      clock,
      logger: quiet,
      from: 0,
      batch: 10,
    });
    scheduler.start();
    clock.advance(1_000);
    await until(() => store.queries.length >= 1);
    // Full batches are followed by the next at once (a zero-delay timer on the fake clock).
    for (let i = 0; i < 5; i++) {
      clock.advance(0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => routed.length === 25, 'all 25 routed');
    await scheduler.stop();
    expect(routed).toEqual(rows.map((row) => row.id));
    expect(new Set(routed).size).toBe(25);
  });

  it('keeps going after a failed query', async () => {
    const clock = new FakeClock(0);
    let calls = 0;
    const routed: string[] = [];
    const scheduler = new Scheduler({
      store: {
        dueScheduled: () => {
          calls++;
          if (calls === 1) return Promise.reject(new Error('store down'));
          return scheduled([{ id: 'x', sendAt: 1_500 }]).dueScheduled({ sendAt: 0, id: '' }, clock.now(), 10);
        },
      },
      deliver: (message) => routed.push(message.id),
      clock,
      logger: quiet,
      from: 0,
    });
    scheduler.start();
    clock.advance(1_000);
    await until(() => calls === 1);
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(1_000);
    await until(() => routed.length === 1, 'routed after the failure');
    await scheduler.stop();
  });
});
