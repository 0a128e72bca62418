// The recipient actor applying its policy on a fake clock: suppression list, frequency caps, content
// dedupe, quiet hours (held, not suppressed) and sendAt; and its policy history rebuilt exactly.
import { afterEach, describe, expect, it } from 'vitest';
import { RECIPIENT_STATE_UPGRADES, RECIPIENT_STATE_VERSION } from '../../actors/recipient/RecipientActor.ts';
import { upgradeSnapshot } from '../../runtime/persistence/upgradeSnapshot.ts';
import { EMPTY_HISTORY } from '../../runtime/policy/recipientHistory.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import type { RecipientPolicy } from '../../runtime/policy/decidePolicy.ts';
import type { FakeClock } from '../../runtime/time/FakeClock.ts';
import { testSystem } from './kernel/support.ts';
import { buildRecipients, deliver, inspect, NO_POLICY, world } from './recipientWorld.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// 2026-11-24T12:00:00Z: midday in UTC, outside any quiet hours used here.
const NOON = Date.parse('2026-11-24T12:00:00Z');

describe('RecipientActor policy', () => {
  let system: ActorSystem | undefined;
  afterEach(async () => {
    await system?.shutdown();
  });

  function setUp(policy: RecipientPolicy) {
    const built = testSystem();
    system = built.system;
    const clock: FakeClock = built.clock;
    clock.advance(NOON - clock.now());
    const w = world();
    const registry = buildRecipients(built.system, w, { clock, policy });
    return { system: built.system, clock, w, registry };
  }

  it('suppresses with the list’s reason, and applies a removal to the very next message', async () => {
    const { w, registry } = setUp(NO_POLICY);
    w.suppressions.set('t:u', [{ channel: null, reason: 'unsubscribed' }]);
    w.add('m1', 'email', '2026-11-24T12:00:00.000Z');
    expect(await deliver(registry, 't:u', w, 'm1')).toMatchObject({
      state: 'suppressed',
      lastError: 'suppressed: unsubscribed',
    });

    registry.tell('t:u', { type: 'suppressions', change: { kind: 'removed', channel: null } });
    w.add('m2', 'email', '2026-11-24T12:00:01.000Z');
    expect((await deliver(registry, 't:u', w, 'm2')).state).toBe('queued');

    registry.tell('t:u', {
      type: 'suppressions',
      change: { kind: 'added', suppression: { channel: 'sms', reason: null } },
    });
    w.add('m3', 'sms', '2026-11-24T12:00:02.000Z');
    w.add('m4', 'email', '2026-11-24T12:00:03.000Z');
    expect(await deliver(registry, 't:u', w, 'm3')).toMatchObject({
      state: 'suppressed',
      lastError: 'suppressed: on the suppression list',
    });
    expect((await deliver(registry, 't:u', w, 'm4')).state).toBe('queued');
    const state = await inspect(registry, 't:u');
    expect(state.sequence).toBe(2);
    expect(state.suppressions).toEqual([{ channel: 'sms', reason: null }]);
    expect(w.delivered).toEqual(['m2', 'm4']);
  });

  it('caps marketing emails at 3 per 24h and leaves transactional alone', async () => {
    const { clock, w, registry } = setUp({
      ...NO_POLICY,
      frequencyCaps: { marketing: { email: { max: 3, windowMs: DAY } } },
    });
    const states: string[] = [];
    for (let i = 1; i <= 4; i++) {
      w.add(`mk${i}`, 'email', '2026-11-24T12:00:00.000Z', { priority: 'marketing' });
      states.push((await deliver(registry, 't:u', w, `mk${i}`)).state);
      clock.advance(HOUR);
    }
    expect(states).toEqual(['queued', 'queued', 'queued', 'suppressed']);
    expect(w.rows.get('mk4')?.lastError).toBe('frequency cap: 3 marketing emails per 24h');
    w.add('tx1', 'email', '2026-11-24T16:00:00.000Z');
    expect((await deliver(registry, 't:u', w, 'tx1')).state).toBe('queued');

    // The window rolls: 24h after the first was taken, there is room for one more.
    clock.advance(DAY - 4 * HOUR);
    w.add('mk5', 'email', '2026-11-25T12:00:00.000Z', { priority: 'marketing' });
    expect((await deliver(registry, 't:u', w, 'mk5')).state).toBe('queued');
    w.add('mk6', 'email', '2026-11-25T12:00:00.000Z', { priority: 'marketing' });
    expect((await deliver(registry, 't:u', w, 'mk6')).state).toBe('suppressed');
  });

  it('suppresses duplicate content within the window, and takes it again after', async () => {
    const { clock, w, registry } = setUp({ ...NO_POLICY, dedupeWindowMs: 600_000 });
    w.add('a', 'email', '2026-11-24T12:00:00.000Z', { contentHash: 'same' });
    w.add('b', 'email', '2026-11-24T12:00:00.000Z', { contentHash: 'same' });
    w.add('c', 'email', '2026-11-24T12:00:00.000Z', { contentHash: 'other' });
    expect((await deliver(registry, 't:u', w, 'a')).state).toBe('queued');
    clock.advance(599_999);
    expect(await deliver(registry, 't:u', w, 'b')).toMatchObject({
      state: 'suppressed',
      lastError: 'duplicate content within 10 minutes',
    });
    expect((await deliver(registry, 't:u', w, 'c')).state).toBe('queued');
    clock.advance(1);
    w.add('d', 'email', '2026-11-24T12:10:00.000Z', { contentHash: 'same' });
    expect((await deliver(registry, 't:u', w, 'd')).state).toBe('queued');
  });

  it('holds marketing through quiet hours in the recipient’s zone, never transactional', async () => {
    const { clock, w, registry } = setUp({
      ...NO_POLICY,
      quietHours: { start: 21 * 60, end: 8 * 60 },
      defaultTimeZone: 'UTC',
    });
    // 22:30 UTC: quiet in London (22:30 GMT) and by default; 17:30 in New York, not quiet there.
    clock.advance(Date.parse('2026-11-24T22:30:00Z') - clock.now());
    w.add('late', 'email', '2026-11-24T22:30:00.000Z', { priority: 'marketing' });
    w.add('london', 'email', '2026-11-24T22:30:00.000Z', { priority: 'marketing', timeZone: 'Europe/London' });
    w.add('ny', 'email', '2026-11-24T22:30:00.000Z', { priority: 'marketing', timeZone: 'America/New_York' });
    w.add('otp', 'email', '2026-11-24T22:30:00.000Z', { priority: 'transactional' });
    const morning = Date.parse('2026-11-25T08:00:00Z');
    expect(await deliver(registry, 't:u', w, 'late')).toMatchObject({ state: 'accepted', sendAt: morning });
    expect(await deliver(registry, 't:u', w, 'london')).toMatchObject({ state: 'accepted', sendAt: morning });
    expect((await deliver(registry, 't:u', w, 'ny')).state).toBe('queued');
    expect((await deliver(registry, 't:u', w, 'otp')).state).toBe('queued');

    // Routed again when due (the scheduler's job): now outside quiet hours, it is taken.
    clock.advance(morning - clock.now());
    expect((await deliver(registry, 't:u', w, 'late')).state).toBe('queued');
  });

  it('leaves a message that is not yet due accepted, and takes it once due', async () => {
    const { clock, w, registry } = setUp(NO_POLICY);
    const sendAt = NOON + 2_000;
    w.add('later', 'sms', '2026-11-24T12:00:00.000Z', { sendAt });
    expect(await deliver(registry, 't:u', w, 'later')).toMatchObject({ state: 'accepted', sendAt });
    clock.advance(1_999);
    expect((await deliver(registry, 't:u', w, 'later')).state).toBe('accepted');
    clock.advance(1);
    expect((await deliver(registry, 't:u', w, 'later')).state).toBe('queued');
    expect(w.delivered).toEqual(['later']);
  });

  it('rebuilds its caps and dedupe history exactly from snapshot plus later messages', async () => {
    const policy: RecipientPolicy = {
      ...NO_POLICY,
      frequencyCaps: { marketing: { email: { max: 3, windowMs: DAY } } },
      dedupeWindowMs: 600_000,
    };
    const first = setUp(policy);
    const { w } = first;
    w.add('m1', 'email', '2026-11-24T12:00:00.000Z', { priority: 'marketing', contentHash: 'h1' });
    await deliver(first.registry, 't:u', w, 'm1');
    first.clock.advance(60_000);
    w.add('m2', 'email', '2026-11-24T12:01:00.000Z', { priority: 'marketing', contentHash: 'h2' });
    await deliver(first.registry, 't:u', w, 'm2');
    await first.registry.passivate('t:u');
    const snapshot = w.snapshots.get('recipient:t:u');
    expect(snapshot).toMatchObject({
      sequence: 2,
      state: { history: { taken: { 'marketing:email': [NOON, NOON + 60_000] } } },
    });

    first.clock.advance(60_000);
    w.add('m3', 'email', '2026-11-24T12:02:00.000Z', { priority: 'marketing', contentHash: 'h3' });
    await deliver(first.registry, 't:u', w, 'm3');
    const live = await inspect(first.registry, 't:u');
    await first.system.shutdown();
    if (snapshot) w.snapshots.set('recipient:t:u', snapshot);

    // A new process, its clock a little later: the rebuilt state is the live one, and decides alike.
    const built = testSystem();
    system = built.system;
    built.clock.advance(NOON + 180_000 - built.clock.now());
    const registry = buildRecipients(built.system, w, { clock: built.clock, policy });
    const rebuilt = await inspect(registry, 't:u');
    expect(rebuilt).toEqual({ ...live, savedSequence: 2 });
    expect(rebuilt.history.taken['marketing:email']).toHaveLength(3);
    w.add('m4', 'email', '2026-11-24T12:03:00.000Z', { priority: 'marketing', contentHash: 'h4' });
    expect(await deliver(registry, 't:u', w, 'm4')).toMatchObject({
      state: 'suppressed',
      lastError: 'frequency cap: 3 marketing emails per 24h',
    });
    w.add('m5', 'email', '2026-11-24T12:03:00.000Z', { contentHash: 'h2' });
    expect(await deliver(registry, 't:u', w, 'm5')).toMatchObject({
      state: 'suppressed',
      lastError: 'duplicate content within 10 minutes',
    });
  });

  it('reads a version-1 snapshot (before policy history) with an empty history', async () => {
    const v1 = { byChannel: { email: 2 }, lastMessageAt: '2026-11-24T11:00:00.000Z' };
    expect(upgradeSnapshot('recipient:t:u', v1, 1, RECIPIENT_STATE_VERSION, RECIPIENT_STATE_UPGRADES)).toEqual({
      ...v1,
      history: EMPTY_HISTORY,
    });
    const { w, registry } = setUp(NO_POLICY);
    w.snapshots.set('recipient:t:u', { sequence: 2, state: v1 });
    expect(await inspect(registry, 't:u')).toMatchObject({
      sequence: 2,
      byChannel: { email: 2 },
      history: EMPTY_HISTORY,
    });
  });
});
