// The Kafka ingest bridge against the local broker and PostgreSQL: records become durably accepted
// messages once each with their offsets committed after acceptance, invalid records go to the
// dead-letter topic with their reasons, a pushed-back channel pauses only the partition that brought
// it, an unavailable store holds the offsets back, a rebalance loses and doubles nothing, and a broker
// restart mid-stream is survived by the bridge actor's own restart. Every test uses topics and groups of its own, unique to the run.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Admin, type IHeaders, Kafka, logLevel, type Message, Partitioners, type Producer } from 'kafkajs';
import { createPool, type DatabasePool, sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { spawnBridge } from '../../actors/bridge/BridgeActor.ts';
import { DEAD_LETTER_HEADERS } from '../../actors/bridge/kafka/deadLetterMessage.ts';
import { TENANT_HEADER } from '../../actors/bridge/kafka/ingestRecords.ts';
import { kafkaIngestConnector } from '../../actors/bridge/kafka/KafkaIngest.ts';
import { SendIntake, type SendIntakeDeps } from '../../actors/bridge/SendIntake.ts';
import { ChannelBacklog } from '../../actors/channel/ChannelBacklog.ts';
import type { ActorBehavior, AnyActorRef, GaugeValue } from '../../runtime/kernel/ActorRef.ts';
import { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import { type ActorView, inspect } from '../../runtime/kernel/introspect.ts';
import { createLogger, type Logger } from '../../runtime/logging/createLogger.ts';
import { MessageStore } from '../../runtime/messages/MessageStore.ts';
import { migrate } from '../../runtime/persistence/migrate.ts';
import { StoreUnavailableError } from '../../runtime/persistence/StoreError.ts';
import { TemplateStore } from '../../runtime/templates/TemplateStore.ts';
import { systemClock } from '../../runtime/time/Clock.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/waitFor.ts';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((broker) => broker.trim());
const ROOT = path.resolve(import.meta.dirname, '../..');
const RUN = randomUUID().slice(0, 8);
const sh = promisify(execFile);

type Routed = Parameters<SendIntakeDeps['deliver']>[0];

type Ingest = {
  readonly name: string;
  readonly topic: string;
  readonly dlqTopic: string;
  readonly groupId: string;
  readonly backlog: ChannelBacklog;
  readonly intake: SendIntake;
  readonly routed: Routed[];
  readonly ref: AnyActorRef;
  view(): ActorView | undefined;
  gauges(): Readonly<Record<string, GaugeValue>>;
};

const SUPERVISOR: ActorBehavior<null, never> = { kind: 'supervisor', init: () => null, receive: (state) => state };

const email = (key: string, recipient: string) =>
  JSON.stringify({
    idempotencyKey: key,
    channel: 'email',
    to: { id: recipient, email: `${recipient}@example.com` },
    content: { subject: 'hello', text: `message ${key}` },
  });

const sms = (key: string, recipient: string) =>
  JSON.stringify({
    idempotencyKey: key,
    channel: 'sms',
    to: { id: recipient, phone: '+447700900123' },
    content: { text: `message ${key}` },
  });

const header = (headers: IHeaders | undefined, name: string): string | undefined => {
  const value = headers?.[name];
  return value === undefined || Array.isArray(value) ? undefined : value.toString();
};

/** Runs every step even when one fails, then throws what failed. */
async function cleanUp(steps: ReadonlyArray<() => unknown>): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} clean-up step(s) failed`);
}

/** Starts or stops the local broker (ARCHITECTURE §8); the script finds node on PATH. */
async function kafkaScript(command: 'up' | 'down'): Promise<void> {
  await sh('bash', [path.join(ROOT, 'deploy/local/kafka.sh'), command], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    timeout: 240_000,
  });
}

describe('kafka ingest bridge', () => {
  let db: TestDatabase;
  let pool: DatabasePool;
  let messages: MessageStore;
  let templates: TemplateStore;
  let logger: Logger;
  let system: ActorSystem;
  let bridges: AnyActorRef;
  const kafka = new Kafka({ clientId: `kafka-ingest-test-${RUN}`, brokers, logLevel: logLevel.NOTHING });
  let admin: Admin;
  let producer: Producer;
  const topics: string[] = [];
  const groups: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = await createPool(db.url, { maximumPoolSize: 4 });
    await migrate(pool);
    messages = new MessageStore(pool);
    templates = new TemplateStore(pool);
    logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error' });
    system = new ActorSystem({ clock: systemClock(), logger });
    bridges = system.spawn(system.root, 'bridges', SUPERVISOR);
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
  });

  afterAll(async () => {
    // Every step runs even when one before it fails; the broker restart test brings Kafka back itself,
    // and the first step is the net under a failure in between.
    await cleanUp([
      () => kafkaScript('up'),
      () => system?.shutdown(),
      () => producer?.disconnect(),
      async () => {
        if (!admin) return;
        try {
          const existing = new Set(await admin.listTopics());
          const ours = [...new Set(topics)].filter((topic) => existing.has(topic));
          if (ours.length > 0) await admin.deleteTopics({ topics: ours });
          const known = new Set((await admin.listGroups()).groups.map((group) => group.groupId));
          const ourGroups = [...new Set(groups)].filter((group) => known.has(group));
          if (ourGroups.length > 0) await admin.deleteGroups(ourGroups);
        } finally {
          await admin.disconnect();
        }
      },
      () => messages?.close(),
      () => messages?.closeTransitions(),
      () => pool?.end(),
      () => db?.drop(),
    ]);
  });

  /** A bridge on topics and a group of its own, with a fresh backlog (limit `limit` per channel). */
  function startIngest(
    name: string,
    options: { limit?: number; groupOf?: Ingest; actor?: string; store?: SendIntakeDeps['messages'] } = {},
  ): Ingest {
    const topic = options.groupOf?.topic ?? `sbtest.kafka-ingest.${name}.${RUN}`;
    const dlqTopic = `${topic}.dlq`;
    const groupId = options.groupOf?.groupId ?? `sbtest-kafka-ingest-${name}-${RUN}`;
    topics.push(topic, dlqTopic);
    groups.push(groupId);
    const backlog = new ChannelBacklog({
      limit: options.limit ?? 1_000_000,
      onListenerError: (error) => logger.error({ err: error }, 'backlog listener failed'),
    });
    const routed: Routed[] = [];
    const intake = new SendIntake({
      messages: options.store ?? messages,
      templates,
      backlog,
      deliver: (message) => routed.push(message),
    });
    const ref = spawnBridge(
      system,
      bridges,
      options.actor ?? `kafka-ingest-${name}`,
      kafkaIngestConnector({
        brokers,
        intake,
        logger,
        topic,
        dlqTopic,
        groupId,
        clientId: `kafka-ingest-${name}-${RUN}`,
        lagRefreshMs: 1_000,
        maxWaitTimeInMs: 250,
      }),
    );
    const view = () => inspect(system, { path: ref.path, depth: 0, limit: 1 });
    return { name, topic, dlqTopic, groupId, backlog, intake, routed, ref, view, gauges: () => view()?.gauges ?? {} };
  }

  const consuming = (ingest: Ingest) =>
    waitFor(() => system.statusOf(ingest.ref) === 'running' && ingest.gauges().state === 'consuming', {
      timeoutMs: 90_000,
      what: `${ingest.name} consuming`,
    });

  const countMessages = async (where: { keyPrefix: string; channel?: string; tenant?: string }) =>
    pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(*)::int AS count FROM messages
      WHERE idempotency_key LIKE ${`${where.keyPrefix}%`}
        AND (${where.channel ?? null}::text IS NULL OR channel = ${where.channel ?? null})
        AND (${where.tenant ?? null}::text IS NULL OR tenant = ${where.tenant ?? null})`);

  const waitForCount = (where: Parameters<typeof countMessages>[0], count: number, timeoutMs = 120_000) =>
    waitFor(async () => (await countMessages(where)) === count, {
      timeoutMs,
      intervalMs: 250,
      what: `${count} messages with keys ${where.keyPrefix}* ${where.channel ?? ''}`,
    });

  /** Committed offsets of the group by partition (-1: none). */
  const committed = async (ingest: Ingest): Promise<Map<number, number>> => {
    const [entry] = await admin.fetchOffsets({ groupId: ingest.groupId, topics: [ingest.topic] });
    return new Map((entry?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  };

  const highWatermarks = async (topic: string): Promise<Map<number, number>> =>
    new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));

  it('accepts 1,000 records once each and commits their offsets only after', async () => {
    const ingest = startIngest('flow');
    await consuming(ingest);
    const prefix = `flow-${RUN}-`;
    const records: Message[] = Array.from({ length: 1_000 }, (_, i) => ({
      key: `user-${i % 37}`,
      value: email(`${prefix}${i}`, `user-${i % 37}`),
    }));
    for (let i = 0; i < records.length; i += 250)
      await producer.send({ topic: ingest.topic, messages: records.slice(i, i + 250) });

    await waitForCount({ keyPrefix: prefix }, 1_000);
    await waitFor(() => ingest.gauges().lag === 0, { timeoutMs: 60_000, what: 'lag 0' });
    expect(ingest.routed).toHaveLength(1_000);
    expect(new Set(ingest.routed.map((m) => m.id)).size).toBe(1_000);
    expect(ingest.gauges()).toMatchObject({ accepted: 1_000, duplicates: 0, invalid: 0, pausedPartitions: '' });
    const distinctKeys = await pool.oneFirst(sql.type(z.object({ count: z.number() }))`
      SELECT count(DISTINCT idempotency_key)::int AS count FROM messages WHERE idempotency_key LIKE ${`${prefix}%`}`);
    expect(distinctKeys).toBe(1_000);

    await system.stop(ingest.ref);
    const ends = await highWatermarks(ingest.topic);
    expect([...ends.values()].reduce((a, b) => a + b, 0)).toBe(1_000);
    expect(await committed(ingest)).toEqual(ends);

    // A new member of the group starts where the bridge left off: it sees only what comes after.
    const member = kafka.consumer({ groupId: ingest.groupId, maxWaitTimeInMs: 250 });
    const seen: string[] = [];
    try {
      await member.connect();
      await member.subscribe({ topics: [ingest.topic], fromBeginning: true });
      await member.run({
        eachMessage: ({ message }) => {
          seen.push(message.value?.toString() ?? '');
          return Promise.resolve();
        },
      });
      const sentinels = [...ends.keys()].map((partition) => ({ partition, value: `sentinel-${partition}` }));
      await producer.send({ topic: ingest.topic, messages: sentinels });
      await waitFor(() => seen.length >= sentinels.length, { timeoutMs: 60_000, what: 'the sentinels' });
      expect(seen.sort()).toEqual(sentinels.map((s) => s.value).sort());
    } finally {
      await member.disconnect();
    }
  }, 240_000);

  it('dead-letters malformed and invalid records with their reasons while the rest flow', async () => {
    const ingest = startIngest('dlq');
    await consuming(ingest);
    const prefix = `dlq-${RUN}-`;
    const invalid: Array<{ message: Message; reason: RegExp }> = [
      { message: { key: 'bad-1', value: '{"channel": "email", "to": ' }, reason: /^not JSON/ },
      {
        message: { key: 'bad-2', value: JSON.stringify({ channel: 'email', to: { id: 'bad-2' } }) },
        reason: /to\.email: to\.email is required.*content: either content or template is required/,
      },
      {
        message: { key: 'bad-3', value: JSON.stringify({ channel: 'fax', to: { id: 'bad-3' }, content: {} }) },
        reason: /^channel: /,
      },
      { message: { key: 'bad-4', value: null }, reason: /^empty record$/ },
      {
        message: {
          key: 'bad-5',
          value: JSON.stringify({
            idempotencyKey: `${prefix}template`,
            channel: 'email',
            to: { id: 'bad-5', email: 'bad-5@example.com' },
            template: { id: 'no-such-template' },
          }),
        },
        reason: /template\.id: template no-such-template does not exist/,
      },
      {
        message: { key: 'bad-6', value: email(`${prefix}bad-tenant`, 'bad-6'), headers: { [TENANT_HEADER]: 'a:b' } },
        reason: /x-switchboard-tenant.*is not a tenant/,
      },
    ];
    const valid = (i: number): Message => ({
      key: `user-${i}`,
      value: email(`${prefix}${i}`, `user-${i}`),
      ...(i % 5 === 0 ? { headers: { [TENANT_HEADER]: 'acme' } } : {}),
    });
    // Valid and invalid records interleaved; each invalid one sent alone to learn its position.
    const positions = new Map<string, { partition: number; offset: string }>();
    let next = 0;
    for (const { message } of invalid) {
      await producer.send({ topic: ingest.topic, messages: [valid(next++), valid(next++), valid(next++)] });
      const [meta] = await producer.send({ topic: ingest.topic, messages: [message] });
      if (meta === undefined) throw new Error('no record metadata');
      positions.set(String(message.key), { partition: meta.partition, offset: String(meta.baseOffset) });
    }
    await producer.send({ topic: ingest.topic, messages: [valid(next++), valid(next++)] });
    const acme = Array.from({ length: next }, (_, i) => i).filter((i) => i % 5 === 0).length;

    await waitForCount({ keyPrefix: prefix }, next);
    expect(await countMessages({ keyPrefix: prefix, tenant: 'acme' })).toBe(acme);
    expect(await countMessages({ keyPrefix: prefix, tenant: 'default' })).toBe(next - acme);

    const reader = kafka.consumer({ groupId: `${ingest.groupId}-reader`, maxWaitTimeInMs: 250 });
    groups.push(`${ingest.groupId}-reader`);
    const letters: Array<{ key: string; value: string | null; headers: IHeaders | undefined }> = [];
    try {
      await reader.connect();
      await reader.subscribe({ topics: [ingest.dlqTopic], fromBeginning: true });
      await reader.run({
        eachMessage: ({ message }) => {
          letters.push({
            key: String(message.key),
            value: message.value?.toString() ?? null,
            headers: message.headers,
          });
          return Promise.resolve();
        },
      });
      await waitFor(() => letters.length >= invalid.length, { timeoutMs: 60_000, what: 'the dead letters' });
    } finally {
      await reader.disconnect();
    }
    expect(letters).toHaveLength(invalid.length);
    for (const { message, reason } of invalid) {
      const letter = letters.find((l) => l.key === message.key);
      const at = positions.get(String(message.key));
      expect(letter?.value ?? null).toBe(message.value === null ? null : String(message.value));
      expect(header(letter?.headers, DEAD_LETTER_HEADERS.reason)).toMatch(reason);
      expect(header(letter?.headers, DEAD_LETTER_HEADERS.sourceTopic)).toBe(ingest.topic);
      expect(header(letter?.headers, DEAD_LETTER_HEADERS.sourcePartition)).toBe(String(at?.partition));
      expect(header(letter?.headers, DEAD_LETTER_HEADERS.sourceOffset)).toBe(at?.offset);
    }
    expect(header(letters.find((l) => l.key === 'bad-6')?.headers, TENANT_HEADER)).toBe('a:b');

    await waitFor(() => ingest.gauges().lag === 0, { timeoutMs: 60_000, what: 'lag 0' });
    expect(ingest.gauges()).toMatchObject({ accepted: next, invalid: invalid.length });
    expect(await committed(ingest)).toEqual(await highWatermarks(ingest.topic));
    await system.stop(ingest.ref);
  }, 240_000);

  it('pauses only the partition that brings a pushed-back channel, and resumes it when the channel opens', async () => {
    const LIMIT = 50;
    const ingest = startIngest('pressure', { limit: LIMIT });
    await consuming(ingest);
    const prefix = `pressure-${RUN}-`;
    ingest.backlog.added('sms', LIMIT);
    expect(ingest.intake.isOpen('sms')).toBe(false);

    // Partition 0: three emails, ten SMS, two more emails. Partition 1: emails only.
    const toPartition = (partition: number, bodies: string[]): Message[] =>
      bodies.map((value, i) => ({ partition, key: `p${partition}-${i}`, value }));
    const p0 = [
      ...[0, 1, 2].map((i) => email(`${prefix}p0-before-${i}`, `r0-${i}`)),
      ...Array.from({ length: 10 }, (_, i) => sms(`${prefix}p0-sms-${i}`, `r0-sms-${i}`)),
      ...[0, 1].map((i) => email(`${prefix}p0-after-${i}`, `r0-after-${i}`)),
    ];
    await producer.send({ topic: ingest.topic, messages: toPartition(0, p0) });
    await producer.send({
      topic: ingest.topic,
      messages: toPartition(
        1,
        Array.from({ length: 10 }, (_, i) => email(`${prefix}p1-${i}`, `r1-${i}`)),
      ),
    });

    await waitFor(() => ingest.gauges().pausedPartitions === '0', { timeoutMs: 60_000, what: 'partition 0 paused' });
    await waitForCount({ keyPrefix: `${prefix}p0-before-` }, 3);
    await waitForCount({ keyPrefix: `${prefix}p1-` }, 10);
    // Offsets are committed up to the first SMS on partition 0, and to the end of partition 1.
    await waitFor(async () => (await committed(ingest)).get(1) === 10, { what: 'partition 1 committed' });
    expect((await committed(ingest)).get(0)).toBe(3);
    expect(await countMessages({ keyPrefix: `${prefix}p0-sms-` })).toBe(0);
    expect(await countMessages({ keyPrefix: `${prefix}p0-after-` })).toBe(0);

    // The email-only partition keeps flowing while partition 0 waits.
    await producer.send({
      topic: ingest.topic,
      messages: toPartition(
        1,
        Array.from({ length: 10 }, (_, i) => email(`${prefix}p1-more-${i}`, `r1-more-${i}`)),
      ),
    });
    await waitForCount({ keyPrefix: `${prefix}p1-more-` }, 10);
    expect(ingest.gauges().pausedPartitions).toBe('0');

    // Hysteresis: a little room is not enough to resume (the low watermark is 80% of the limit).
    ingest.backlog.finished('sms', 5);
    expect(ingest.intake.isOpen('sms')).toBe(false);
    expect(ingest.gauges().pausedPartitions).toBe('0');
    ingest.backlog.finished('sms', LIMIT - 5);
    expect(ingest.intake.isOpen('sms')).toBe(true);

    await waitForCount({ keyPrefix: `${prefix}p0-sms-`, channel: 'sms' }, 10);
    await waitForCount({ keyPrefix: `${prefix}p0-after-` }, 2);
    expect(ingest.gauges()).toMatchObject({ pausedPartitions: '', accepted: 35, duplicates: 0, pauses: 1 });
    await waitFor(async () => (await committed(ingest)).get(0) === p0.length, { what: 'partition 0 committed' });
    expect(ingest.routed.filter((m) => m.channel === 'sms')).toHaveLength(10);
    await system.stop(ingest.ref);
  }, 240_000);

  it('loses and doubles nothing when a second member joins the group mid-stream', async () => {
    const first = startIngest('rebalance');
    await consuming(first);
    const prefix = `rebalance-${RUN}-`;
    const batch = (from: number, count: number): Message[] =>
      Array.from({ length: count }, (_, i) => ({
        key: `user-${(from + i) % 53}`,
        value: email(`${prefix}${from + i}`, `user-${(from + i) % 53}`),
      }));
    await producer.send({ topic: first.topic, messages: batch(0, 300) });
    await waitForCount({ keyPrefix: prefix }, 300);

    const second = startIngest('rebalance', { groupOf: first, actor: 'kafka-ingest-rebalance-2' });
    const sending = (async () => {
      for (let from = 300; from < 1_500; from += 100)
        await producer.send({ topic: first.topic, messages: batch(from, 100) });
    })();
    await consuming(second);
    await sending;
    await waitFor(() => first.gauges().assignedPartitions !== '0,1,2', { what: 'the partitions shared' });
    await waitForCount({ keyPrefix: prefix }, 1_500, 180_000);

    const routed = [...first.routed, ...second.routed];
    expect(new Set(routed.map((m) => m.id)).size).toBe(1_500);
    expect(routed).toHaveLength(1_500);
    await waitFor(
      async () => {
        const [offsets, ends] = await Promise.all([committed(first), highWatermarks(first.topic)]);
        return [...ends].every(([partition, end]) => offsets.get(partition) === end);
      },
      { timeoutMs: 60_000, what: 'every partition committed to its end' },
    );
    await Promise.all([system.stop(first.ref), system.stop(second.ref)]);
  }, 300_000);

  it('commits nothing while the store is unavailable, and accepts everything once it is back', async () => {
    let storeDown = true;
    let refused = 0;
    const flaky: SendIntakeDeps['messages'] = {
      acceptMany: (items) => {
        if (!storeDown) return messages.acceptMany(items);
        refused += items.length;
        return items.map(() => Promise.reject(new StoreUnavailableError('store unavailable (test)')));
      },
    };
    const ingest = startIngest('unavailable', { store: flaky });
    await consuming(ingest);
    const prefix = `unavailable-${RUN}-`;
    await producer.send({
      topic: ingest.topic,
      messages: Array.from({ length: 200 }, (_, i) => ({
        key: `user-${i % 11}`,
        value: email(`${prefix}${i}`, `user-${i % 11}`),
      })),
    });
    await waitFor(() => Number(ingest.gauges().unavailableRetries) >= 6, {
      timeoutMs: 60_000,
      what: 'the bridge retrying the unavailable store',
    });
    expect(refused).toBeGreaterThanOrEqual(200);
    expect([...(await committed(ingest)).values()].every((offset) => offset <= 0)).toBe(true);
    expect(await countMessages({ keyPrefix: prefix })).toBe(0);
    expect(ingest.gauges()).toMatchObject({ accepted: 0, invalid: 0 });

    storeDown = false;
    await waitForCount({ keyPrefix: prefix }, 200);
    await waitFor(
      async () => {
        const [offsets, ends] = await Promise.all([committed(ingest), highWatermarks(ingest.topic)]);
        return [...ends].every(([partition, end]) => offsets.get(partition) === end);
      },
      { timeoutMs: 60_000, what: 'every partition committed to its end' },
    );
    expect(ingest.routed).toHaveLength(200);
    expect(ingest.gauges()).toMatchObject({ accepted: 200, duplicates: 0, invalid: 0 });
    expect(system.statusOf(ingest.ref)).toBe('running');
    expect(ingest.view()?.failures).toBe(0);
    await system.stop(ingest.ref);
  }, 240_000);

  // Runs last: it stops the shared broker. Kafka is started again in `finally` and in afterAll.
  it('reconnects by itself after a broker restart mid-stream and loses nothing', async () => {
    const ingest = startIngest('restart');
    await consuming(ingest);
    const prefix = `restart-${RUN}-`;
    const CHUNK = 25;
    const PACE_MS = 100; // a steady ~250 records/s, so production spans the whole outage
    const started = Date.now();
    const timeline: string[] = [];
    const mark = (what: string) => timeline.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const restartsBefore = ingest.view()?.restarts ?? 0;
    const failuresBefore = ingest.view()?.failures ?? 0;

    // A producer that keeps each chunk until the broker has it, through the outage.
    let producing = true;
    let producerRetries = 0;
    let produced = 0;
    const sending = (async () => {
      while (producing) {
        const chunk = Array.from({ length: CHUNK }, (_, i) => ({
          key: `user-${(produced + i) % 71}`,
          value: email(`${prefix}${produced + i}`, `user-${(produced + i) % 71}`),
        }));
        for (;;) {
          try {
            await producer.send({ topic: ingest.topic, messages: chunk });
            break;
          } catch {
            producerRetries++;
            await pause(500);
          }
        }
        produced += CHUNK;
        await pause(PACE_MS);
      }
    })();

    try {
      await waitFor(async () => (await countMessages({ keyPrefix: prefix })) >= 300, {
        timeoutMs: 120_000,
        what: '300 accepted before the restart',
      });
      mark(`broker going down (${produced} produced)`);
      try {
        await kafkaScript('down');
        mark('broker down');
        // The bridge notices on its own: its consumer crashes, the actor fails and restarts.
        await waitFor(
          () => (ingest.view()?.failures ?? 0) > failuresBefore || system.statusOf(ingest.ref) !== 'running',
          { timeoutMs: 120_000, what: 'the bridge to notice the broker is gone' },
        );
        mark(`bridge noticed: ${ingest.view()?.lastError ?? ''}`);
      } finally {
        await kafkaScript('up');
        mark('broker up');
      }
      const atRestart = produced;
      await waitFor(() => produced >= atRestart + 500, { timeoutMs: 180_000, what: '500 more produced' });
    } finally {
      producing = false;
      await sending;
    }
    mark(`producer stopped (${produced} produced, ${producerRetries} retried sends)`);

    await waitForCount({ keyPrefix: prefix }, produced, 300_000);
    mark('all accepted');
    await waitFor(() => system.statusOf(ingest.ref) === 'running' && ingest.gauges().state === 'consuming', {
      timeoutMs: 120_000,
      what: 'the bridge consuming again',
    });
    expect(ingest.view()?.restarts ?? 0).toBeGreaterThan(restartsBefore);
    expect(producerRetries).toBeGreaterThan(0);
    expect(Number(ingest.gauges().accepted)).toBeGreaterThan(0);
    await waitFor(
      async () => {
        const [offsets, ends] = await Promise.all([committed(ingest), highWatermarks(ingest.topic)]);
        return [...ends].every(([partition, end]) => offsets.get(partition) === end);
      },
      { timeoutMs: 120_000, what: 'every partition committed to its end' },
    );
    expect(new Set(ingest.routed.map((m) => m.id)).size).toBe(produced);
    expect(ingest.routed).toHaveLength(produced);
    const view = ingest.view();
    console.log(
      `[kafka-ingest] broker restart: ${timeline.join('; ')}; actor failures ${view?.failures}, restarts ${view?.restarts}; gauges ${JSON.stringify(view?.gauges)}`,
    );
    await system.stop(ingest.ref);
  }, 600_000);
});
