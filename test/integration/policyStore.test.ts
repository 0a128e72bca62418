// What the recipient policy stores and reads, on PostgreSQL and on the embedded PGlite store: content
// hashes and taken times, policy facts, quiet-hours holds, the scheduler's due query, recovery and
// the backlog leaving out messages not yet due, and suppression lists.
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageStore } from '../../runtime/messages/MessageStore.ts';
import { type SendRequest, sendRequestSchema } from '../../runtime/messages/sendRequest.ts';
import { migrate } from '../../runtime/persistence/migrate.ts';
import { contentHash } from '../../runtime/policy/contentHash.ts';
import { SuppressionStore } from '../../runtime/policy/SuppressionStore.ts';
import { STORES_UNDER_TEST, type StoreUnderTest } from '../support/storesUnderTest.ts';

const send = (overrides: Record<string, unknown> = {}): SendRequest =>
  sendRequestSchema.parse({
    channel: 'email',
    to: { id: 'ada', email: 'ada@example.com' },
    content: { subject: 's', text: 't' },
    ...overrides,
  });

const MIN_ID = '00000000-0000-0000-0000-000000000000';

describe.each(STORES_UNDER_TEST)('policy storage on %s', (_name, open) => {
  let store: StoreUnderTest;
  let messages: MessageStore;
  let suppressions: SuppressionStore;

  beforeAll(async () => {
    store = await open();
    await migrate(store.database.pool);
    messages = new MessageStore(store.database.pool);
    suppressions = new SuppressionStore(store.database.pool);
  });

  afterAll(async () => {
    await messages?.closeTransitions();
    await suppressions?.close();
    await store?.cleanup();
  });

  it('stores the content hash at acceptance and the taken time with the recipient sequence', async () => {
    const request = send({ to: { id: 'ada', email: 'ada@example.com', timeZone: 'Europe/London' } });
    const { id } = await messages.accept('t1', request);
    expect(await messages.policyFacts(id)).toEqual({
      state: 'accepted',
      channel: 'email',
      priority: 'transactional',
      sendAt: null,
      contentHash: contentHash(request),
      timeZone: 'Europe/London',
    });
    expect(await messages.policyFacts('0b6f1a4e-8a0c-4c61-9b57-3f3c2b7b1e2a')).toBeNull();

    const takenAt = Date.parse('2026-11-24T10:00:00.123Z');
    await messages.transition(id, 'queued', { recipientSeq: 1, takenAt });
    expect(await messages.recipientMessagesAfter('t1', 'ada', 0)).toEqual([
      {
        recipientSeq: 1,
        channel: 'email',
        priority: 'transactional',
        createdAt: expect.any(String) as unknown,
        takenAt,
        contentHash: contentHash(request),
      },
    ]);
  });

  it('holds an accepted message until a time, with an event; a taken one is not held', async () => {
    const { id } = await messages.accept('t2', send({ priority: 'marketing' }));
    const until = Date.now() + 3_600_000;
    expect(await messages.hold(id, until, 'held for quiet hours until then')).toBe(true);
    const held = await messages.find('t2', id);
    expect(held).toMatchObject({ state: 'accepted', sendAt: new Date(until).toISOString() });
    expect(held?.transitions.map((t) => [t.state, t.detail])).toEqual([
      ['accepted', null],
      ['accepted', 'held for quiet hours until then'],
    ]);
    const other = await messages.accept('t2', send({ content: { text: 'other' } }));
    await messages.transition(other.id, 'queued', { recipientSeq: 1, takenAt: Date.now() });
    expect(await messages.hold(other.id, until, 'x')).toBe(false);
  });

  it('leaves messages not yet due out of recovery, the backlog and its counts, and gives them to the scheduler when due', async () => {
    const now = Date.now();
    const later = await messages.accept('t3', send({ sendAt: new Date(now + 60_000).toISOString() }));
    const past = await messages.accept('t3', send({ sendAt: new Date(now - 60_000).toISOString() }));
    const pendingIds = (await messages.pending(100_000)).map((m) => m.id);
    expect(pendingIds).toContain(past.id);
    expect(pendingIds).not.toContain(later.id);
    expect((await messages.pending(100_000, now + 60_000)).map((m) => m.id)).toContain(later.id);

    // Untouched for two minutes: the one due a minute ago is 'stale' only past the age counted from its sendAt.
    await store.database.pool.query(
      sql.unsafe`UPDATE messages SET updated_at = now() - interval '2 minutes' WHERE tenant = 't3'`,
    );
    const stale = (ageMs: number) => messages.stale(ageMs, 10_000).then((rows) => rows.map((m) => m.id));
    expect(await stale(30_000)).toContain(past.id);
    expect(await stale(30_000)).not.toContain(later.id);
    expect(await stale(90_000)).not.toContain(past.id);

    const due = await messages.dueScheduled({ sendAt: now - 120_000, id: MIN_ID }, now + 60_000, 100);
    expect(due.map((m) => m.id)).toEqual([past.id, later.id]);
    expect(due[1]).toMatchObject({ tenant: 't3', channel: 'email', recipientId: 'ada', sendAt: now + 60_000 });
    expect((await messages.dueScheduled({ sendAt: now, id: MIN_ID }, now + 59_999, 100)).map((m) => m.id)).toEqual([]);
  });

  it('pages through messages due at the same instant by (sendAt, id), each once', async () => {
    const at = Date.parse('2030-01-01T09:00:00.000Z');
    // Sub-millisecond digits are dropped at acceptance, so the cursor read back matches the row.
    const accepted = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        messages.accept('t4', send({ content: { text: `${i}` }, sendAt: '2030-01-01T09:00:00.000456Z' })),
      ),
    );
    let cursor = { sendAt: at - 1, id: MIN_ID };
    const seen: string[] = [];
    for (let page = 0; page < 5; page++) {
      const rows = await messages.dueScheduled(cursor, at, 2);
      seen.push(...rows.filter((row) => accepted.some((a) => a.id === row.id)).map((row) => row.id));
      const last = rows.at(-1);
      if (last === undefined) break;
      expect(last.sendAt).toBe(at);
      cursor = { sendAt: last.sendAt, id: last.id };
    }
    expect(seen.sort()).toEqual(accepted.map((a) => a.id).sort());
  });

  it('keeps suppression lists per tenant, one entry per channel and one for all channels', async () => {
    expect(await suppressions.add('t5', 'bob', null, 'complained')).toMatchObject({
      recipientId: 'bob',
      channel: null,
      reason: 'complained',
    });
    await suppressions.add('t5', 'bob', null, 'unsubscribed');
    await suppressions.add('t5', 'bob', 'sms', null);
    await suppressions.add('t6', 'bob', 'push', 'other tenant');
    expect(
      (await suppressions.list('t5', { recipientId: 'bob', limit: 10 })).map((e) => [e.channel, e.reason]),
    ).toEqual(
      expect.arrayContaining([
        [null, 'unsubscribed'],
        ['sms', null],
      ]) as unknown,
    );
    expect(await suppressions.list('t5', { recipientId: 'bob', limit: 10 })).toHaveLength(2);

    // Loads made together share a query and each gets its own recipient's list.
    const [bob, other, nobody] = await Promise.all([
      suppressions.forRecipient('t5', 'bob'),
      suppressions.forRecipient('t6', 'bob'),
      suppressions.forRecipient('t5', 'nobody'),
    ]);
    expect(bob).toHaveLength(2);
    expect(other).toEqual([{ channel: 'push', reason: 'other tenant' }]);
    expect(nobody).toEqual([]);

    expect(await suppressions.remove('t5', 'bob', null)).toBe(true);
    expect(await suppressions.remove('t5', 'bob', null)).toBe(false);
    expect(await suppressions.forRecipient('t5', 'bob')).toEqual([{ channel: 'sms', reason: null }]);
  });
});
