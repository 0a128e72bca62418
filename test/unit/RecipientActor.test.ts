import { afterEach, describe, expect, it } from 'vitest';
import {
  type RecipientMessage,
  type RecipientState,
  recipientBehavior,
  type TakenMessage,
} from '../../actors/recipient/RecipientActor.ts';
import type { ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import { EntityRegistry } from '../../runtime/kernel/EntityRegistry.ts';
import { IllegalTransitionError } from '../../runtime/messages/messageState.ts';
import type { Channel } from '../../runtime/messages/sendRequest.ts';
import { testSystem, until } from './kernel/support.ts';

/** An in-memory stand-in for the message store's rows and the snapshot store. */
function world() {
  const rows = new Map<string, { state: string; recipientSeq: number | null; channel: Channel; createdAt: string }>();
  const snapshots = new Map<string, { sequence: number; state: unknown }>();
  const delivered: string[] = [];
  const add = (id: string, channel: Channel, createdAt: string) =>
    rows.set(id, { state: 'accepted', recipientSeq: null, channel, createdAt });
  return { rows, snapshots, delivered, add };
}

function build(system: ActorSystem, w: ReturnType<typeof world>) {
  const holder: { registry?: EntityRegistry<RecipientState, RecipientMessage> } = {};
  const group = system.spawn(system.root, 'recipients', {
    kind: 'supervisor',
    init: () => null,
    receive: (s: null) => s,
  });
  const registry = new EntityRegistry<RecipientState, RecipientMessage>({
    system,
    parent: group,
    shards: 2,
    prefix: 'r',
    idleMs: 3_600_000,
    behavior: recipientBehavior({
      snapshots: {
        load: (key) => Promise.resolve(w.snapshots.get(key) ?? null),
        save: (key, sequence, state) => {
          w.snapshots.set(key, { sequence, state });
          return Promise.resolve();
        },
      },
      take: (id, recipientSeq) => {
        const row = w.rows.get(id);
        if (row === undefined || row.state !== 'accepted')
          return Promise.reject(new IllegalTransitionError(id, row?.state as never, 'queued'));
        row.state = 'queued';
        row.recipientSeq = recipientSeq;
        return Promise.resolve({ createdAt: row.createdAt, priority: 'transactional' as const });
      },
      takenAfter: (_key, afterSeq) =>
        Promise.resolve(
          [...w.rows.values()]
            .filter(
              (row): row is typeof row & { recipientSeq: number } =>
                row.recipientSeq !== null && row.recipientSeq > afterSeq,
            )
            .sort((a, b) => a.recipientSeq - b.recipientSeq)
            .map((row): TakenMessage => ({
              recipientSeq: row.recipientSeq,
              channel: row.channel,
              createdAt: row.createdAt,
            })),
        ),
      deliver: (_channel, id) => void w.delivered.push(id),
      registry: () => {
        if (holder.registry === undefined) throw new Error('registry not ready');
        return holder.registry;
      },
    }),
  });
  holder.registry = registry;
  return registry;
}

const inspect = (registry: EntityRegistry<RecipientState, RecipientMessage>, key: string) =>
  registry.ask(key, (replyTo: ReplyTo<RecipientState>) => ({ type: 'inspect' as const, replyTo }), 1_000);

describe('RecipientActor', () => {
  let system: ActorSystem | undefined;
  afterEach(async () => {
    await system?.shutdown();
  });

  it('counts a message once it is taken, and forwards it to its channel', async () => {
    ({ system } = testSystem());
    const w = world();
    const registry = build(system, w);
    w.add('m1', 'email', '2026-11-24T01:00:00.000Z');
    w.add('m2', 'sms', '2026-11-24T01:00:01.000Z');
    registry.tell('t:u', { type: 'deliver', messageId: 'm1', channel: 'email', priority: 'transactional' });
    registry.tell('t:u', { type: 'deliver', messageId: 'm2', channel: 'sms', priority: 'transactional' });
    expect(await inspect(registry, 't:u')).toEqual({
      sequence: 2,
      byChannel: { email: 1, sms: 1 },
      lastMessageAt: '2026-11-24T01:00:01.000Z',
      savedSequence: 0,
    });
    expect(w.delivered).toEqual(['m1', 'm2']);
    expect(w.rows.get('m2')?.recipientSeq).toBe(2);
  });

  it('does not count a message delivered twice, but lets the channel have it', async () => {
    ({ system } = testSystem());
    const w = world();
    const registry = build(system, w);
    w.add('m1', 'email', '2026-11-24T01:00:00.000Z');
    registry.tell('t:u', { type: 'deliver', messageId: 'm1', channel: 'email', priority: 'transactional' });
    registry.tell('t:u', { type: 'deliver', messageId: 'm1', channel: 'email', priority: 'transactional' });
    expect((await inspect(registry, 't:u')).sequence).toBe(1);
    expect(w.delivered).toEqual(['m1', 'm1']);
  });

  it('rebuilds exactly from its snapshot plus the messages taken after it', async () => {
    ({ system } = testSystem());
    if (system === undefined) throw new Error('no system');
    const w = world();
    let registry = build(system, w);
    for (let i = 1; i <= 5; i++) {
      w.add(`m${i}`, i % 2 ? 'email' : 'push', `2026-11-24T01:00:0${i}.000Z`);
      registry.tell('t:u', {
        type: 'deliver',
        messageId: `m${i}`,
        channel: i % 2 ? 'email' : 'push',
        priority: 'transactional',
      });
    }
    await until(() => w.rows.get('m5')?.state === 'queued');
    await registry.passivate('t:u');
    const snapshotAtFive = w.snapshots.get('recipient:t:u');
    expect(snapshotAtFive?.sequence).toBe(5);
    for (let i = 6; i <= 8; i++) {
      w.add(`m${i}`, 'sms', `2026-11-24T01:00:0${i}.000Z`);
      registry.tell('t:u', { type: 'deliver', messageId: `m${i}`, channel: 'sms', priority: 'transactional' });
    }
    const live = await inspect(registry, 't:u');
    // A crash: the actor is gone without flushing (the flush that shutdown makes is undone), and a new
    // system rebuilds it from the same store.
    await system.shutdown();
    if (snapshotAtFive) w.snapshots.set('recipient:t:u', snapshotAtFive);
    ({ system } = testSystem());
    registry = build(system, w);
    const rebuilt = await inspect(registry, 't:u');
    expect(rebuilt).toEqual({ ...live, savedSequence: 5 });
    expect(rebuilt).toMatchObject({
      sequence: 8,
      byChannel: { email: 3, push: 2, sms: 3 },
      lastMessageAt: '2026-11-24T01:00:08.000Z',
    });
  });
});
