import { afterEach, describe, expect, it } from 'vitest';
import type { ActorCell } from '../../../runtime/kernel/ActorCell.ts';
import type { ActorBehavior, ActorRef, ReplyTo } from '../../../runtime/kernel/ActorRef.ts';
import {
  ActorStoppedError,
  AskTimeoutError,
  type ActorSystem,
  DuplicateActorNameError,
  InvalidActorNameError,
} from '../../../runtime/kernel/ActorSystem.ts';
import { testSystem, until } from './support.ts';

type CounterMessage =
  | { type: 'add'; amount: number }
  | { type: 'get'; replyTo: ReplyTo<number> }
  | { type: 'ignore'; replyTo: ReplyTo<number> };

const counter: ActorBehavior<number, CounterMessage> = {
  kind: 'counter',
  init: () => 0,
  receive(state, message) {
    switch (message.type) {
      case 'add':
        return state + message.amount;
      case 'get':
        message.replyTo.reply(state);
        return state;
      case 'ignore':
        return state;
    }
  },
};

const cellOf = (ref: ActorRef<never> | ActorRef<CounterMessage>) => ref as unknown as ActorCell;

describe('ActorSystem', () => {
  let system: ActorSystem;
  afterEach(async () => {
    await system?.shutdown();
  });

  it('processes typed messages in order and answers asks', async () => {
    ({ system } = testSystem());
    const ref = system.spawn(system.root, 'counter-1', counter);
    for (let i = 1; i <= 100; i++) system.dispatch(ref, { type: 'add', amount: i });
    expect(await system.ask(ref, (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 1_000)).toBe(5050);
    expect(ref.path).toBe('/switchboard/counter-1');
    await until(() => cellOf(ref).processed === 101, 'the ask counted as processed');
    expect(cellOf(ref).mailbox).toBe(0);
  });

  it('keeps concurrent asks apart: each gets its own answer', async () => {
    ({ system } = testSystem());
    const ref = system.spawn(system.root, 'counter-2', counter);
    const answers = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => {
        system.dispatch(ref, { type: 'add', amount: 1 });
        return system
          .ask(ref, (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 5_000)
          .then((n) => [i, n]);
      }),
    );
    for (const [i, n] of answers) expect(n).toBe((i ?? 0) + 1);
  });

  it('fails an ask that gets no answer when the clock passes its timeout', async () => {
    let clock;
    ({ system, clock } = testSystem());
    const ref = system.spawn(system.root, 'counter-3', counter);
    const asked = system.ask(ref, (replyTo: ReplyTo<number>) => ({ type: 'ignore' as const, replyTo }), 500);
    await until(() => cellOf(ref).processed === 1, 'ignore handled');
    clock.advance(499);
    clock.advance(1);
    await expect(asked).rejects.toBeInstanceOf(AskTimeoutError);
  });

  it('requires deterministic, valid and unique names', () => {
    ({ system } = testSystem());
    expect(() => system.spawn(system.root, '', counter)).toThrow(InvalidActorNameError);
    expect(() => system.spawn(system.root, 'has space', counter)).toThrow(InvalidActorNameError);
    system.spawn(system.root, 'r:user-42', counter);
    expect(() => system.spawn(system.root, 'r:user-42', counter)).toThrow(DuplicateActorNameError);
  });

  it('turns messages to a stopped actor into counted dead letters', async () => {
    ({ system } = testSystem());
    const ref = system.spawn(system.root, 'counter-4', counter);
    system.dispatch(ref, { type: 'add', amount: 1 });
    await system.stop(ref);
    expect(cellOf(ref).processed).toBe(1);
    system.dispatch(ref, { type: 'add', amount: 2 });
    system.dispatch(ref, { type: 'add', amount: 3 });
    expect(system.deadLetters.counts().stopped).toBe(2);
    expect(system.deadLetters.recent().at(-1)).toMatchObject({
      path: '/switchboard/counter-4',
      messageType: 'add',
      reason: 'stopped',
    });
    await expect(
      system.ask(ref, (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 100),
    ).rejects.toBeInstanceOf(ActorStoppedError);
    expect(system.lookup('/switchboard/counter-4')).toBeUndefined();
  });

  it('processes what is already in the mailbox before stopping, and runs the stop hook once', async () => {
    ({ system } = testSystem());
    const flushed: number[] = [];
    const ref = system.spawn(system.root, 'flushing', { ...counter, onStop: (state) => void flushed.push(state) });
    for (let i = 0; i < 10; i++) system.dispatch(ref, { type: 'add', amount: 1 });
    await Promise.all([system.stop(ref), system.stop(ref)]);
    expect(flushed).toEqual([10]);
    expect(system.deadLetters.total).toBe(0);
  });

  it('stops children before their parent', async () => {
    ({ system } = testSystem());
    const order: string[] = [];
    const node = (name: string): ActorBehavior<null, never> => ({
      kind: 'node',
      init: () => null,
      receive: (s) => s,
      onStop: () => void order.push(name),
    });
    const parent = system.spawn(system.root, 'parent', node('parent'));
    system.spawn(parent, 'child', node('child'));
    await until(() => cellOf(parent).status === 'running');
    await system.shutdown();
    expect(order).toEqual(['child', 'parent']);
  });

  it('counts live actors by kind and status', async () => {
    ({ system } = testSystem());
    const a = system.spawn(system.root, 'a', counter);
    system.spawn(system.root, 'b', counter);
    await until(() => cellOf(a).status === 'running');
    await system.stop(a);
    expect(system.counts().filter((row) => row.kind === 'counter' && row.count > 0)).toEqual([
      { kind: 'counter', status: 'running', count: 1 },
    ]);
  });
});
