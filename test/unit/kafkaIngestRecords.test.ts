// A slice of Kafka records through the real SendIntake over an in-memory store: what is accepted,
// what is dead-lettered, and where the slice stops (a pushed-back channel, an unavailable store).
import { describe, expect, it } from 'vitest';
import {
  type DeadLetter,
  type IngestRecord,
  ingestRecords,
  TENANT_HEADER,
} from '../../actors/bridge/kafka/ingestRecords.ts';
import { recordKey } from '../../actors/bridge/kafka/KafkaIngest.ts';
import { SendIntake } from '../../actors/bridge/SendIntake.ts';
import { ChannelBacklog } from '../../actors/channel/ChannelBacklog.ts';
import type { AcceptItem, AcceptResult } from '../../runtime/messages/MessageStore.ts';
import { StoreUnavailableError } from '../../runtime/persistence/StoreError.ts';

const email = (key: string | undefined, recipient = 'user-1') =>
  JSON.stringify({
    ...(key === undefined ? {} : { idempotencyKey: key }),
    channel: 'email',
    to: { id: recipient, email: `${recipient}@example.com` },
    content: { text: 'hello' },
  });

const sms = (key: string) =>
  JSON.stringify({
    idempotencyKey: key,
    channel: 'sms',
    to: { id: 'user-2', phone: '+447700900123' },
    content: { text: 'hi' },
  });

let offset = 100;
const record = (value: string | null, headers?: IngestRecord['headers']): IngestRecord => ({
  offset: String(offset++),
  key: Buffer.from('k'),
  value: value === null ? null : Buffer.from(value),
  headers,
});

/** An intake over a store that remembers accepted keys and refuses the keys in `down` as unavailable. */
function harness(options: { down?: ReadonlySet<string>; limit?: number; missingTemplates?: ReadonlySet<string> } = {}) {
  const stored = new Map<string, string>();
  const calls: Array<{ tenant: string; keys: Array<string | undefined> }> = [];
  const backlog = new ChannelBacklog({
    limit: options.limit ?? 1_000,
    onListenerError: (error) => {
      throw error;
    },
  });
  const intake = new SendIntake({
    messages: {
      acceptMany: (items: readonly AcceptItem[]) => {
        calls.push({ tenant: items[0]?.tenant ?? '', keys: items.map((item) => item.request.idempotencyKey) });
        return items.map((item): Promise<AcceptResult> => {
          const key = `${item.tenant}/${item.request.idempotencyKey ?? ''}`;
          if (options.down?.has(item.request.idempotencyKey ?? ''))
            return Promise.reject(new StoreUnavailableError('store down'));
          const existing = stored.get(key);
          if (existing !== undefined) return Promise.resolve({ id: existing, created: false });
          const id = `id-${stored.size}`;
          stored.set(key, id);
          return Promise.resolve({ id, created: true });
        });
      },
    },
    templates: {
      missing: (_tenant, ids) => Promise.resolve(new Set(ids.filter((id) => options.missingTemplates?.has(id)))),
    },
    deliver: () => {},
    backlog,
  });
  const letters: DeadLetter[] = [];
  const context = {
    intake,
    defaultTenant: 'default',
    fallbackKey: (r: IngestRecord) => recordKey('sends', 0, r.offset),
    deadLetter: (batch: readonly DeadLetter[]) => {
      letters.push(...batch);
      return Promise.resolve();
    },
  };
  return { stored, calls, backlog, intake, letters, context };
}

describe('ingestRecords', () => {
  it('accepts valid sends per tenant and keys those without a key by their position', async () => {
    const h = harness();
    const records = [
      record(email('a')),
      record(email(undefined)),
      record(email('b'), { [TENANT_HEADER]: 'acme' }),
      record(email('c'), { [TENANT_HEADER]: Buffer.from('acme') }),
    ];
    const result = await ingestRecords(records, h.context);
    expect(result).toEqual({ done: 4, accepted: 4, created: 4, deadLettered: 0, stop: undefined });
    expect(h.calls).toEqual([
      { tenant: 'default', keys: ['a', `kafka:sends:0:${records[1]?.offset}`] },
      { tenant: 'acme', keys: ['b', 'c'] },
    ]);
    // Read again (after a rebalance): accepted, nothing new.
    expect(await ingestRecords(records, h.context)).toMatchObject({ done: 4, accepted: 4, created: 0 });
    expect(h.stored.size).toBe(4);
  });

  it('dead-letters unparseable, invalid and wrongly-tenanted records in order, and goes on', async () => {
    const h = harness({ missingTemplates: new Set(['gone']) });
    const records = [
      record('{nope'),
      record(email('ok-1')),
      record(null),
      record(JSON.stringify({ channel: 'email', to: { id: 'x' } })),
      record(email('ok-2'), { [TENANT_HEADER]: 'a:b' }),
      record(email('ok-3'), { [TENANT_HEADER]: ['acme', 'other'] }),
      record(
        JSON.stringify({
          idempotencyKey: 't',
          channel: 'email',
          to: { id: 'x', email: 'x@example.com' },
          template: { id: 'gone' },
        }),
      ),
      record(email('ok-4')),
    ];
    const result = await ingestRecords(records, h.context);
    expect(result).toMatchObject({ done: 8, accepted: 2, deadLettered: 6, stop: undefined });
    expect(h.letters.map((l) => l.record.offset)).toEqual([0, 2, 3, 4, 5, 6].map((i) => records[i]?.offset));
    expect(h.letters.map((l) => l.reason)).toEqual([
      expect.stringMatching(/^not JSON/),
      'empty record',
      expect.stringMatching(/to\.email.*content/),
      expect.stringMatching(/x-switchboard-tenant: "a:b" is not a tenant/),
      expect.stringMatching(/given 2 times/),
      'template.id: template gone does not exist',
    ]);
  });

  it('stops at the first send of a pushed-back channel, finishing only what comes before it', async () => {
    const h = harness({ limit: 10 });
    h.backlog.added('sms', 10);
    const records = [record(email('e1')), record('{bad'), record(sms('s1')), record(email('e2')), record('{bad')];
    const result = await ingestRecords(records, h.context);
    expect(result).toMatchObject({ done: 2, accepted: 1, deadLettered: 1 });
    expect(result.stop).toEqual({ kind: 'pressured', channel: 'sms', offset: records[2]?.offset });
    expect(h.calls.flatMap((c) => c.keys)).toEqual(['e1']);
    expect(h.letters.map((l) => l.record.offset)).toEqual([records[1]?.offset]);
  });

  it('stops at the first send the store could not take, dead-lettering nothing after it', async () => {
    const h = harness({ down: new Set(['e2']) });
    const records = [record(email('e1')), record('{bad'), record(email('e2')), record('{bad'), record(email('e3'))];
    const result = await ingestRecords(records, h.context);
    expect(result).toMatchObject({ done: 2, accepted: 1, deadLettered: 1 });
    expect(result.stop).toMatchObject({ kind: 'unavailable', offset: records[2]?.offset });
    expect(result.stop?.kind === 'unavailable' && result.stop.error).toBeInstanceOf(StoreUnavailableError);
    expect(h.letters).toHaveLength(1);
  });

  it('rejects when the dead letters cannot be produced', async () => {
    const h = harness();
    const failing = { ...h.context, deadLetter: () => Promise.reject(new Error('broker gone')) };
    await expect(ingestRecords([record(email('e1')), record('{bad')], failing)).rejects.toThrow('broker gone');
  });

  it('keeps record keys within the idempotency key limit', () => {
    expect(recordKey('sends', 2, '41')).toBe('kafka:sends:2:41');
    const long = recordKey('t'.repeat(249), 2, '9223372036854775807');
    expect(long.length).toBeLessThanOrEqual(256);
    expect(long).toMatch(/^kafka:[0-9a-f]{64}:2:9223372036854775807$/);
  });
});
