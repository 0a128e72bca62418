import { afterEach, describe, expect, it } from 'vitest';
import type { ActorCell } from '../../../runtime/kernel/ActorCell.ts';
import type { ActorBehavior, ReplyTo } from '../../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../../runtime/kernel/ActorSystem.ts';
import { EntityRegistry, entityName, shardOf } from '../../../runtime/kernel/EntityRegistry.ts';
import type { FakeClock } from '../../../runtime/time/FakeClock.ts';
import { testSystem, until } from './support.ts';

type Msg = { type: 'add'; n: number } | { type: 'get'; replyTo: ReplyTo<number> };

/** An entity whose state survives passivation through an in-memory stand-in for the snapshot store. */
function setup(idleMs = 60_000, maxLive?: number) {
  const { system, clock } = testSystem();
  const saved = new Map<string, number>();
  const loads: string[] = [];
  const supervisor = system.spawn(system.root, 'recipients', {
    kind: 'supervisor',
    init: () => null,
    receive: (s: null) => s,
  });
  const holder: { registry?: EntityRegistry<number, Msg> } = {};
  const behavior: ActorBehavior<number, Msg> = {
    kind: 'recipient',
    init(context) {
      const key = holder.registry?.keyOf(context) ?? '';
      loads.push(key);
      return saved.get(key) ?? 0;
    },
    receive(state, message) {
      if (message.type === 'get') {
        message.replyTo.reply(state);
        return state;
      }
      return state + message.n;
    },
    async onStop(state, context) {
      await Promise.resolve();
      saved.set(holder.registry?.keyOf(context) ?? '', state);
    },
  };
  const registry = new EntityRegistry({
    system,
    parent: supervisor,
    shards: 4,
    prefix: 'r',
    behavior,
    idleMs,
    ...(maxLive !== undefined ? { maxLive } : {}),
  });
  holder.registry = registry;
  return { system, clock, registry, saved, loads };
}

describe('entity names and shards', () => {
  it('derives deterministic names from keys', () => {
    expect(entityName('r', 'user-42')).toBe('r:user-42');
    expect(entityName('r', 'default:user-42')).toBe('r:default:user-42');
    expect(entityName('r', 'tenant a/üser')).toBe(entityName('r', 'tenant a/üser'));
    expect(entityName('r', 'tenant a/üser')).toMatch(/^r#[\w-]{32}$/);
    expect(entityName('r', 'tenant a/üser')).not.toBe(entityName('r', 'tenant a/user'));
  });

  it('spreads keys over every shard, always the same shard for a key', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOf(`user-${i}`, 16)] = (counts[shardOf(`user-${i}`, 16)] ?? 0) + 1;
    for (const count of counts) expect(count).toBeGreaterThan(700);
    expect(shardOf('user-7', 16)).toBe(shardOf('user-7', 16));
  });
});

describe('EntityRegistry', () => {
  let system: ActorSystem;
  let clock: FakeClock;
  afterEach(async () => {
    await system?.shutdown();
  });

  it('spawns an entity on first use under its shard, and messages bypass the shard', async () => {
    let registry;
    ({ system, registry } = setup());
    for (let i = 0; i < 100; i++) registry.tell(`user-${i % 10}`, { type: 'add', n: 1 });
    expect(registry.size).toBe(10);
    expect(await registry.ask('user-3', (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 1_000)).toBe(
      10,
    );
    const shard = system.lookup(`/switchboard/recipients/shard-0${shardOf('user-3', 4)}`);
    expect(shard?.children?.has('r:user-3')).toBe(true);
    expect(shard?.processed).toBe(0);
    const counts = shard?.childCounts;
    expect(counts && counts.running + counts.starting).toBe(shard?.children?.size);
  });

  it('passivates idle entities (flushing state) and restores that state on the next message', async () => {
    let registry, saved, loads;
    ({ system, clock, registry, saved, loads } = setup(60_000));
    registry.tell('user-1', { type: 'add', n: 5 });
    registry.tell('user-2', { type: 'add', n: 7 });
    await until(
      () =>
        registry.isLive('user-1') &&
        (system.lookup(`/switchboard/recipients/shard-0${shardOf('user-1', 4)}/r:user-1`)?.processed ?? 0) === 1,
    );
    clock.advance(30_000);
    registry.tell('user-2', { type: 'add', n: 1 });
    await until(
      () => (system.lookup(`/switchboard/recipients/shard-0${shardOf('user-2', 4)}/r:user-2`)?.processed ?? 0) === 2,
    );
    clock.advance(30_000);
    await until(() => !registry.isLive('user-1'), 'user-1 passivated');
    expect(registry.isLive('user-2')).toBe(true);
    await until(() => saved.get('user-1') === 5, 'state flushed');
    expect(registry.stats().passivations).toBe(1);

    expect(await registry.ask('user-1', (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 1_000)).toBe(
      5,
    );
    expect(loads.filter((key) => key === 'user-1')).toHaveLength(2);
  });

  it('delivers messages sent during passivation to the next incarnation, after the flush', async () => {
    let registry, saved;
    ({ system, registry, saved } = setup());
    registry.tell('user-9', { type: 'add', n: 1 });
    const passivated = registry.passivate('user-9');
    registry.tell('user-9', { type: 'add', n: 10 });
    registry.tell('user-9', { type: 'add', n: 100 });
    await passivated;
    expect(saved.get('user-9')).toBe(1);
    expect(await registry.ask('user-9', (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 1_000)).toBe(
      111,
    );
    expect(system.deadLetters.total).toBe(0);
  });

  it('passivates the least recently activated idle entities past the live limit, keeping their state', async () => {
    let registry, saved;
    ({ system, registry, saved } = setup(60_000, 10));
    for (let i = 0; i < 30; i++) registry.tell(`user-${i}`, { type: 'add', n: i });
    await until(() => registry.size <= 10 && registry.stats().passivating === 0, 'live entities back under the limit');
    // The newest stay live; the oldest were passivated with their state flushed.
    expect(registry.isLive('user-29')).toBe(true);
    expect(registry.isLive('user-0')).toBe(false);
    expect(saved.get('user-0')).toBe(0);
    expect(saved.get('user-5')).toBe(5);
    expect(await registry.ask('user-3', (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 1_000)).toBe(
      3,
    );
    expect(system.deadLetters.total).toBe(0);
  });

  it('flushes every live entity on close', async () => {
    let registry, saved;
    ({ system, registry, saved } = setup());
    for (let i = 0; i < 50; i++) registry.tell(`user-${i}`, { type: 'add', n: i });
    await registry.close();
    expect(registry.size).toBe(0);
    expect(saved.size).toBe(50);
    expect(saved.get('user-49')).toBe(49);
  });

  it('marks entity cells with their key', () => {
    let registry;
    ({ system, registry } = setup());
    registry.tell('user-1', { type: 'add', n: 1 });
    const entity: ActorCell | undefined = system.lookup(
      `/switchboard/recipients/shard-0${shardOf('user-1', 4)}/r:user-1`,
    );
    expect(entity?.entityKey).toBe('user-1');
  });
});
