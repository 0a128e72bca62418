// One persistence suite, run against PostgreSQL and against the embedded PGlite store: migrations,
// durable acceptance with idempotency, the state machine, and outbox rows for terminal transitions.
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiKeyStore } from '../../runtime/auth/ApiKeyStore.ts';
import { MessageStore } from '../../runtime/messages/MessageStore.ts';
import { IllegalTransitionError } from '../../runtime/messages/messageState.ts';
import { type SendRequest, sendRequestSchema } from '../../runtime/messages/sendRequest.ts';
import { migrate } from '../../runtime/persistence/migrate.ts';
import { STORES_UNDER_TEST, type StoreUnderTest } from '../support/storesUnderTest.ts';

const send = (overrides: Partial<Record<keyof SendRequest, unknown>> = {}): SendRequest =>
  sendRequestSchema.parse({
    channel: 'email',
    to: { id: 'user-1', email: 'user-1@example.com' },
    content: { subject: 's', text: 't' },
    ...overrides,
  });

const stores = STORES_UNDER_TEST;

describe.each(stores)('persistence on %s', (_name, open) => {
  let store: StoreUnderTest;
  let messages: MessageStore;

  beforeAll(async () => {
    store = await open();
    await migrate(store.database.pool);
    messages = new MessageStore(store.database.pool);
  });

  afterAll(async () => {
    await store?.cleanup();
  });

  it('applies each migration once; a second run applies nothing', async () => {
    const again = await migrate(store.database.pool);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toBeGreaterThan(0);
    const recorded = await store.database.pool.anyFirst(
      sql.type(z.object({ version: z.string() }))`SELECT version FROM schema_migrations`,
    );
    expect(recorded).toContain('0001');
  });

  it('answers ping', async () => {
    expect(await store.database.ping()).toBe(true);
  });

  it('accepts a message and records its first transition', async () => {
    const { id, created } = await messages.accept('t1', send());
    expect(created).toBe(true);
    const found = await messages.find('t1', id);
    expect(found?.state).toBe('accepted');
    expect(found?.to.email).toBe('user-1@example.com');
    expect(found?.transitions.map((t) => t.state)).toEqual(['accepted']);
    expect(Date.parse(found?.createdAt ?? '')).not.toBeNaN();
  });

  it('returns the first id for a repeated idempotency key, per tenant', async () => {
    const first = await messages.accept('t1', send({ idempotencyKey: 'order-7' }));
    const repeat = await messages.accept('t1', send({ idempotencyKey: 'order-7', content: { text: 'different' } }));
    const otherTenant = await messages.accept('t2', send({ idempotencyKey: 'order-7' }));
    expect(repeat).toEqual({ id: first.id, created: false });
    expect(otherTenant.created).toBe(true);
    expect(otherTenant.id).not.toBe(first.id);
    const count = await store.database.pool.oneFirst(
      sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM messages WHERE idempotency_key = 'order-7'`,
    );
    expect(count).toBe(2);
  });

  it('keeps one message when the same key arrives concurrently', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () => messages.accept('t1', send({ idempotencyKey: 'race-1' }))),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('group-commits a thousand concurrent sends into a few transactions', async () => {
    const before = messages.acceptStats().batches;
    const results = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        messages.accept('bulk', send({ to: { id: `u-${i}`, email: `u${i}@example.com` } })),
      ),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1_000);
    expect(results.every((r) => r.created)).toBe(true);
    expect(messages.acceptStats().batches - before).toBeLessThanOrEqual(5);
    const stored = await store.database.pool.oneFirst(
      sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM messages WHERE tenant = 'bulk'`,
    );
    expect(stored).toBe(1_000);
  });

  it('answers the first id for a key repeated within one batch and against an earlier batch', async () => {
    const first = await messages.accept('t3', send({ idempotencyKey: 'dup-earlier' }));
    const results = await Promise.all(
      messages.acceptMany([
        { tenant: 't3', request: send({ idempotencyKey: 'dup-same-batch' }) },
        { tenant: 't3', request: send({ idempotencyKey: 'dup-same-batch' }) },
        { tenant: 't3', request: send({ idempotencyKey: 'dup-earlier' }) },
        { tenant: 't4', request: send({ idempotencyKey: 'dup-same-batch' }) },
      ]),
    );
    expect(results[0]?.created).toBe(true);
    expect(results[1]).toEqual({ id: results[0]?.id, created: false });
    expect(results[2]).toEqual({ id: first.id, created: false });
    expect(results[3]?.created).toBe(true);
    const rows = await store.database.pool.oneFirst(
      sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM messages WHERE tenant IN ('t3', 't4')`,
    );
    expect(rows).toBe(3);
  });

  it('hides another tenant’s message', async () => {
    const { id } = await messages.accept('t1', send());
    expect(await messages.find('t2', id)).toBeNull();
    expect(await messages.find('t1', 'not-a-uuid')).toBeNull();
  });

  it('walks the state machine and writes one outbox row for the terminal transition', async () => {
    const { id } = await messages.accept('t1', send({ idempotencyKey: 'walk-1' }));
    await messages.transition(id, 'queued', { recipientSeq: 1 });
    await messages.transition(id, 'sending', { provider: 'smtp', countAttempt: true });
    const sent = await messages.transition(id, 'sent', { provider: 'smtp' });
    expect(sent.state).toBe('sent');
    expect(sent.attempts).toBe(1);
    expect(sent.provider).toBe('smtp');
    const found = await messages.find('t1', id);
    expect(found?.transitions.map((t) => t.state)).toEqual(['accepted', 'queued', 'sending', 'sent']);
    const events = await store.database.pool.anyFirst(
      sql.type(
        z.object({ event: z.record(z.string(), z.unknown()) }),
      )`SELECT event FROM outbox WHERE message_id = ${id}`,
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      messageId: id,
      idempotencyKey: 'walk-1',
      channel: 'email',
      recipientId: 'user-1',
      status: 'sent',
      provider: 'smtp',
      attempt: 1,
    });
  });

  it('rejects an illegal transition and changes nothing', async () => {
    const { id } = await messages.accept('t1', send());
    await expect(messages.transition(id, 'sent')).rejects.toBeInstanceOf(IllegalTransitionError);
    expect((await messages.load(id))?.state).toBe('accepted');
    const outboxRows = await store.database.pool.oneFirst(
      sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM outbox WHERE message_id = ${id}`,
    );
    expect(outboxRows).toBe(0);
  });

  it('applies many transitions in one transaction, refusing only the illegal ones', async () => {
    const accepted = await Promise.all(Array.from({ length: 50 }, () => messages.accept('t5', send())));
    const before = messages.transitionStats().batches;
    const moved = await Promise.allSettled([
      ...accepted.map(({ id }, i) => messages.transition(id, 'queued', { recipientSeq: i + 1 })),
      messages.transition(accepted[0]?.id ?? '', 'sent'),
    ]);
    expect(moved.slice(0, 50).every((outcome) => outcome.status === 'fulfilled')).toBe(true);
    const illegal = moved[50];
    expect(illegal?.status === 'rejected' && illegal.reason).toBeInstanceOf(IllegalTransitionError);
    expect(messages.transitionStats().batches - before).toBeLessThanOrEqual(3);
    const taken = await messages.recipientMessagesAfter('t5', 'user-1', 45);
    expect(taken.map((m) => m.recipientSeq)).toEqual([46, 47, 48, 49, 50]);
    expect(taken[0]?.channel).toBe('email');
  });

  it('lists the backlog: accepted or queued messages untouched for a while', async () => {
    const { id } = await messages.accept('t6', send());
    expect((await messages.stale(60_000, 10_000)).map((m) => m.id)).not.toContain(id);
    await store.database.pool.query(
      sql.unsafe`UPDATE messages SET updated_at = now() - interval '2 minutes' WHERE id = ${id}`,
    );
    expect(await messages.stale(60_000, 10_000)).toContainEqual({
      id,
      tenant: 't6',
      channel: 'email',
      recipientId: 'user-1',
      state: 'accepted',
      priority: 'transactional',
    });
  });

  it('lists unfinished messages for recovery', async () => {
    const { id } = await messages.accept('t1', send());
    expect(await messages.pending(100_000)).toContainEqual({
      id,
      tenant: 't1',
      channel: 'email',
      recipientId: 'user-1',
      state: 'accepted',
      priority: 'transactional',
    });
    await messages.transition(id, 'failed', { error: 'test' });
    expect((await messages.pending(100_000)).map((m) => m.id)).not.toContain(id);
  });

  it('stores API keys hashed and resolves them to their tenant', async () => {
    const keys = new ApiKeyStore(store.database.pool);
    await keys.add('key-for-tenant-a-0001', 'tenant-a', 'test');
    expect(await keys.tenantOf('key-for-tenant-a-0001')).toBe('tenant-a');
    expect(await keys.tenantOf('unknown-key-000000')).toBeNull();
    const stored = await store.database.pool.anyFirst(
      sql.type(z.object({ key_hash: z.string() }))`SELECT key_hash FROM api_keys`,
    );
    expect(stored).not.toContain('key-for-tenant-a-0001');
  });
});
