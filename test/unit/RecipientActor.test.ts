import { afterEach, describe, expect, it } from 'vitest';
import { EMPTY_HISTORY } from '../../runtime/policy/recipientHistory.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import { testSystem, until } from './kernel/support.ts';
import { buildRecipients, inspect, world } from './recipientWorld.ts';

describe('RecipientActor', () => {
  let system: ActorSystem | undefined;
  afterEach(async () => {
    await system?.shutdown();
  });

  it('counts a message once it is taken, and forwards it to its channel', async () => {
    const { system: built, clock } = testSystem();
    system = built;
    const w = world();
    const registry = buildRecipients(system, w, { clock });
    w.add('m1', 'email', '2026-11-24T01:00:00.000Z');
    w.add('m2', 'sms', '2026-11-24T01:00:01.000Z');
    registry.tell('t:u', { type: 'deliver', messageId: 'm1', channel: 'email', priority: 'transactional' });
    registry.tell('t:u', { type: 'deliver', messageId: 'm2', channel: 'sms', priority: 'transactional' });
    expect(await inspect(registry, 't:u')).toEqual({
      sequence: 2,
      byChannel: { email: 1, sms: 1 },
      lastMessageAt: '2026-11-24T01:00:01.000Z',
      history: EMPTY_HISTORY,
      suppressions: [],
      savedSequence: 0,
    });
    expect(w.delivered).toEqual(['m1', 'm2']);
    expect(w.rows.get('m2')?.recipientSeq).toBe(2);
    expect(w.rows.get('m2')?.takenAt).toBe(clock.now());
  });

  it('does not count a message delivered twice, but lets the channel have it', async () => {
    const { system: built, clock } = testSystem();
    system = built;
    const w = world();
    const registry = buildRecipients(system, w, { clock });
    w.add('m1', 'email', '2026-11-24T01:00:00.000Z');
    registry.tell('t:u', { type: 'deliver', messageId: 'm1', channel: 'email', priority: 'transactional' });
    registry.tell('t:u', { type: 'deliver', messageId: 'm1', channel: 'email', priority: 'transactional' });
    expect((await inspect(registry, 't:u')).sequence).toBe(1);
    expect(w.delivered).toEqual(['m1', 'm1']);
  });

  it('rebuilds exactly from its snapshot plus the messages taken after it', async () => {
    const first = testSystem();
    system = first.system;
    const w = world();
    let registry = buildRecipients(system, w, { clock: first.clock });
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
    await first.system.shutdown();
    if (snapshotAtFive) w.snapshots.set('recipient:t:u', snapshotAtFive);
    const second = testSystem();
    system = second.system;
    registry = buildRecipients(system, w, { clock: second.clock });
    const rebuilt = await inspect(registry, 't:u');
    expect(rebuilt).toEqual({ ...live, savedSequence: 5 });
    expect(rebuilt).toMatchObject({
      sequence: 8,
      byChannel: { email: 3, push: 2, sms: 3 },
      lastMessageAt: '2026-11-24T01:00:08.000Z',
    });
  });
});
