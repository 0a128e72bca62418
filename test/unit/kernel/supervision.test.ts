import { afterEach, describe, expect, it } from 'vitest';
import type { ActorCell } from '../../../runtime/kernel/ActorCell.ts';
import type { ActorBehavior, ActorRef } from '../../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../../runtime/kernel/ActorSystem.ts';
import type { FakeClock } from '../../../runtime/time/FakeClock.ts';
import {
  admitRestart,
  escalate,
  restartDelay,
  restartWithBackoff,
  resume,
  stop,
} from '../../../supervisors/SupervisionStrategy.ts';
import { testSystem, until } from './support.ts';

/** A provider-connection stand-in: records what it handled; `crash` throws. Its state counts inits. */
type WorkMessage = { type: 'work'; id: number } | { type: 'crash' };
type WorkState = { generation: number; handled: number[] };

function worker(handled: number[], inits: { count: number }): ActorBehavior<WorkState, WorkMessage> {
  return {
    kind: 'provider',
    init: () => ({ generation: ++inits.count, handled: [] }),
    receive(state, message) {
      if (message.type === 'crash') throw new Error('provider connection broke');
      handled.push(message.id);
      return { ...state, handled: [...state.handled, message.id] };
    },
  };
}

const cell = (ref: ActorRef<never> | ActorRef<WorkMessage>) => ref as unknown as ActorCell<WorkState, WorkMessage>;
const group: ActorBehavior<null, never> = { kind: 'channel', init: () => null, receive: (s) => s };

describe('restartDelay and admitRestart', () => {
  const backoff = { minMs: 100, maxMs: 3_000 };

  it('grows the delay exponentially and caps it', () => {
    const top = () => 1;
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => restartDelay(backoff, n, top))).toEqual([
      100, 200, 400, 800, 1_600, 3_000, 3_000,
    ]);
  });

  it('jitters between the minimum and the ceiling', () => {
    expect(restartDelay(backoff, 4, () => 0)).toBe(100);
    expect(restartDelay(backoff, 4, () => 0.5)).toBe(450);
  });

  it('admits at most maxRestarts within the window', () => {
    const history: number[] = [];
    const intensity = { maxRestarts: 3, withinMs: 1_000 };
    expect([0, 10, 20, 30].map((t) => admitRestart(history, intensity, t))).toEqual([true, true, true, false]);
    expect(admitRestart(history, intensity, 1_001)).toBe(true);
  });
});

describe('supervision', () => {
  let system: ActorSystem;
  let clock: FakeClock;
  afterEach(async () => {
    await system?.shutdown();
  });

  it('restarts after a backoff that grows with each failure, keeping messages that arrive meanwhile', async () => {
    ({ system, clock } = testSystem());
    const handled: number[] = [];
    const inits = { count: 0 };
    const strategy = restartWithBackoff({
      backoff: { minMs: 100, maxMs: 10_000 },
      intensity: { maxRestarts: 10, withinMs: 60_000 },
    });
    const ref = system.spawn(system.root, 'smtp-primary', worker(handled, inits), { supervision: strategy });

    system.dispatch(ref, { type: 'work', id: 1 });
    system.dispatch(ref, { type: 'crash' });
    system.dispatch(ref, { type: 'work', id: 2 });
    system.dispatch(ref, { type: 'work', id: 3 });
    await until(() => cell(ref).status === 'backoff' && cell(ref).mailbox === 0, 'backoff with mailbox drained');
    expect(handled).toEqual([1]);
    expect(cell(ref).stash).toHaveLength(2);

    clock.advance(99);
    await until(() => true);
    expect(cell(ref).status).toBe('backoff');
    clock.advance(1);
    await until(() => handled.length === 3, 'stashed messages replayed');
    expect(handled).toEqual([1, 2, 3]);
    expect(cell(ref).restarts).toBe(1);
    expect(cell(ref).state).toEqual({ generation: 2, handled: [2, 3] });
    expect(system.deadLetters.counts().failed).toBe(1);

    system.dispatch(ref, { type: 'crash' });
    await until(() => cell(ref).status === 'backoff', 'second backoff');
    clock.advance(199);
    await until(() => true);
    expect(cell(ref).status).toBe('backoff');
    clock.advance(1);
    await until(() => cell(ref).status === 'running', 'second restart after 200 ms');
    expect(cell(ref).restarts).toBe(2);
    expect(cell(ref).failures).toBe(2);
    expect(cell(ref).lastError).toBe('Error: provider connection broke');
  });

  it('restarts a crashing provider connection while its siblings keep processing', async () => {
    ({ system, clock } = testSystem());
    const channel = system.spawn(system.root, 'email', group, {
      childSupervision: restartWithBackoff({ backoff: { minMs: 5_000, maxMs: 5_000 } }),
    });
    const primaryHandled: number[] = [];
    const fallbackHandled: number[] = [];
    const primary = system.spawn(channel, 'smtp-primary', worker(primaryHandled, { count: 0 }));
    const fallback = system.spawn(channel, 'webhook-fallback', worker(fallbackHandled, { count: 0 }));

    system.dispatch(primary, { type: 'crash' });
    for (let id = 1; id <= 50; id++) {
      system.dispatch(primary, { type: 'work', id });
      system.dispatch(fallback, { type: 'work', id });
    }
    await until(() => fallbackHandled.length === 50, 'sibling keeps processing');
    expect(cell(primary).status).toBe('backoff');
    expect(primaryHandled).toEqual([]);
    expect(cell(fallback).status).toBe('running');

    clock.advance(5_000);
    await until(() => primaryHandled.length === 50, 'primary catches up after restart');
    expect(primaryHandled).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(cell(fallback).restarts).toBe(0);
  });

  it('escalates to the parent once restarts exceed the intensity limit', async () => {
    ({ system, clock } = testSystem());
    const channel = system.spawn(system.root, 'sms', group, {
      supervision: restartWithBackoff({ backoff: { minMs: 1_000, maxMs: 1_000 } }),
      childSupervision: restartWithBackoff({
        backoff: { minMs: 10, maxMs: 10 },
        intensity: { maxRestarts: 2, withinMs: 60_000 },
      }),
    });
    const sns = system.spawn(channel, 'sns', worker([], { count: 0 }));
    for (let i = 0; i < 2; i++) {
      system.dispatch(sns, { type: 'crash' });
      await until(() => cell(sns).status === 'backoff');
      clock.advance(10);
      await until(() => cell(sns).status === 'running');
    }
    expect(cell(channel).status).toBe('running');
    system.dispatch(sns, { type: 'crash' });
    await until(() => cell(channel).status === 'backoff', 'the channel is restarted');
    expect(system.escalationCount).toBe(1);
    expect(cell(channel).lastError).toContain('escalated from sns');
    expect(cell(sns).status).toBe('backoff');
    clock.advance(1_000);
    await until(() => cell(channel).status === 'running' && cell(sns).status === 'running', 'channel and child back');
    expect(system.rootEscalations()).toEqual([]);
  });

  it('restarts every sibling under all-for-one', async () => {
    ({ system, clock } = testSystem());
    const parent = system.spawn(system.root, 'pair', group, {
      childSupervision: restartWithBackoff({ scope: 'all-for-one', backoff: { minMs: 50, maxMs: 50 } }),
    });
    const inits = { count: 0 };
    const a = system.spawn(parent, 'a', worker([], inits));
    const b = system.spawn(parent, 'b', worker([], inits));
    await until(() => cell(a).status === 'running' && cell(b).status === 'running');
    system.dispatch(a, { type: 'crash' });
    await until(() => cell(b).status === 'backoff', 'sibling in backoff');
    clock.advance(50);
    await until(() => cell(a).restarts === 1 && cell(b).restarts === 1, 'both restarted');
    expect(inits.count).toBe(4);
  });

  it('keeps the state on resume and stops on stop', async () => {
    ({ system } = testSystem());
    const handled: number[] = [];
    const resumed = system.spawn(system.root, 'resumed', worker(handled, { count: 0 }), { supervision: resume() });
    system.dispatch(resumed, { type: 'work', id: 1 });
    system.dispatch(resumed, { type: 'crash' });
    system.dispatch(resumed, { type: 'work', id: 2 });
    await until(() => handled.length === 2);
    expect(cell(resumed).state?.handled).toEqual([1, 2]);

    const stopped = system.spawn(system.root, 'stopped', worker([], { count: 0 }), { supervision: stop() });
    system.dispatch(stopped, { type: 'crash' });
    await until(() => cell(stopped).status === 'stopped', 'stopped by its supervisor');
    system.dispatch(stopped, { type: 'work', id: 3 });
    expect(system.deadLetters.counts().stopped).toBe(1);
  });

  it('logs and counts an escalation that reaches the root, keeps running, and retries after the longest backoff', async () => {
    ({ system, clock } = testSystem());
    const inits = { count: 0 };
    const top = system.spawn(system.root, 'channels', worker([], inits), {
      supervision: escalate({ backoff: { minMs: 10, maxMs: 30_000 } }),
    });
    system.dispatch(top, { type: 'crash' });
    await until(() => system.rootEscalations().length === 1, 'root escalation recorded');
    expect(system.rootEscalations()[0]).toMatchObject({
      path: '/switchboard/channels',
      error: 'Error: provider connection broke',
    });
    expect(cell(top).status).toBe('backoff');
    clock.advance(29_999);
    await until(() => true);
    expect(cell(top).status).toBe('backoff');
    clock.advance(1);
    await until(() => cell(top).status === 'running', 'subtree retried');
    expect(inits.count).toBe(2);
  });

  it('stops an actor whose supervision decision throws, without wedging it', async () => {
    ({ system } = testSystem());
    const broken = restartWithBackoff({
      decide: () => {
        throw new Error('strategy bug');
      },
    });
    const ref = system.spawn(system.root, 'unsupervisable', worker([], { count: 0 }), { supervision: broken });
    system.dispatch(ref, { type: 'crash' });
    await until(() => cell(ref).status === 'stopped', 'stopped after the supervision failure');
    system.dispatch(ref, { type: 'work', id: 1 });
    expect(system.deadLetters.counts()).toMatchObject({ failed: 1, stopped: 1 });
  });

  it('retries a start that failed, keeping the message that triggered it', async () => {
    ({ system, clock } = testSystem());
    let failStart = true;
    const seen: string[] = [];
    const flaky: ActorBehavior<null, string> = {
      kind: 'flaky',
      init() {
        if (failStart) throw new Error('store not reachable');
        return null;
      },
      receive(state, message) {
        seen.push(message);
        return state;
      },
    };
    const ref = system.spawn(system.root, 'flaky', flaky, {
      eager: false,
      supervision: restartWithBackoff({ backoff: { minMs: 100, maxMs: 100 } }),
    });
    system.dispatch(ref, 'first');
    await until(() => (ref as unknown as ActorCell).status === 'backoff');
    system.dispatch(ref, 'second');
    failStart = false;
    clock.advance(100);
    await until(() => seen.length === 2, 'both messages handled after the restart');
    expect(seen).toEqual(['first', 'second']);
  });
});
