// The event relay against real Kafka, RabbitMQ and PostgreSQL, run as the `event-relay` bridge under a
// `bridges` supervisor: outbox rows reach a Kafka topic (all partitions) and a queue bound to the
// events exchange in per-recipient order and are marked published; a RabbitMQ outage (stop_app) leaves
// the events in the outbox until the relay reconnects by itself, and nothing is lost.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { type ChannelModel, connect as amqpConnect } from 'amqplib';
import { type Consumer, Kafka, logLevel } from 'kafkajs';
import { createPool, type DatabasePool, sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { spawnBridge } from '../../actors/bridge/BridgeActor.ts';
import { OUTBOX_ID_HEADER } from '../../actors/bridge/relay/EventPublisher.ts';
import { EventRelayConfigError, eventRelayConnector } from '../../actors/bridge/relay/EventRelay.ts';
import type { ActorBehavior, AnyActorRef, GaugeValue } from '../../runtime/kernel/ActorRef.ts';
import { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import { inspect, type ActorView } from '../../runtime/kernel/introspect.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { migrate } from '../../runtime/persistence/migrate.ts';
import { systemClock } from '../../runtime/time/Clock.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/waitFor.ts';

const run = promisify(execFile);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((broker) => broker.trim());
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

const RELAY_PATH = '/switchboard/bridges/event-relay';
const PARTITIONS = 6;
/** Events written at once just before the outage. */
const BULK = 20_000;
const STATUSES = ['sent', 'delivered', 'failed', 'dead', 'suppressed'] as const;
const CHANNELS = ['email', 'sms', 'push', 'webhook'] as const;

const SUPERVISOR: ActorBehavior<null, never> = { kind: 'supervisor', init: () => null, receive: (state) => state };

type TestEvent = {
  messageId: string;
  idempotencyKey: string;
  channel: (typeof CHANNELS)[number];
  recipientId: string;
  status: (typeof STATUSES)[number];
  provider: string;
  attempt: number;
  at: string;
  error?: string;
};

/** One event as a consumer saw it. */
type Received = {
  outboxId: string;
  messageId: string;
  recipientId: string;
  key: string;
  routing: string;
  partition?: number;
  redelivered?: boolean;
  persistent?: boolean;
  /** The AMQP message-id property. */
  messageIdProperty?: string;
};

const eventOnWire = z.object({
  messageId: z.string(),
  recipientId: z.string(),
  status: z.string(),
  channel: z.string(),
});

/** `count` events spread over `recipients` recipients, interleaved, with varied status and channel. */
function makeEvents(prefix: string, start: number, count: number, recipients: number): TestEvent[] {
  return Array.from({ length: count }, (_, k) => {
    const i = start + k;
    const status = STATUSES[(i * 3 + Math.floor(i / 7)) % STATUSES.length] ?? 'sent';
    return {
      messageId: randomUUID(),
      idempotencyKey: `${prefix}-key-${i}`,
      channel: CHANNELS[Math.floor(i / 3) % CHANNELS.length] ?? 'email',
      recipientId: `${prefix}-r-${i % recipients}`,
      status,
      provider: 'test-provider',
      attempt: 1 + (i % 3),
      at: new Date(1_700_000_000_000 + i).toISOString(),
      ...(status === 'failed' || status === 'dead' ? { error: `error for ${i}` } : {}),
    };
  });
}

/** Inserts rows in the given order (ids ascend with it), in one statement. */
async function insertEvents(pool: DatabasePool, events: readonly TestEvent[]): Promise<void> {
  const tuples = events.map((event) => [event.messageId, event.recipientId, JSON.stringify(event)]);
  await pool.query(sql.unsafe`
    INSERT INTO outbox (message_id, recipient_id, event)
    SELECT t.message_id, t.recipient_id, t.event
      FROM ${sql.unnest(tuples, ['uuid', 'text', 'jsonb'])} WITH ORDINALITY AS t(message_id, recipient_id, event, n)
     ORDER BY t.n`);
}

const outboxRow = z.object({ id: z.bigint(), recipient_id: z.string(), message_id: z.string() });

/** The rows of recipients with `prefix`, in id (write) order, grouped by recipient. */
async function expectedOrder(pool: DatabasePool, prefix: string): Promise<Map<string, string[]>> {
  const rows = await pool.any(sql.type(outboxRow)`
    SELECT id, recipient_id, message_id FROM outbox WHERE recipient_id LIKE ${`${prefix}-%`} ORDER BY id`);
  const order = new Map<string, string[]>();
  for (const row of rows) {
    const list = order.get(row.recipient_id) ?? [];
    list.push(row.message_id);
    order.set(row.recipient_id, list);
  }
  return order;
}

const countRow = z.object({ total: z.bigint(), unpublished: z.bigint() });

async function outboxCounts(pool: DatabasePool, prefix: string): Promise<{ total: number; unpublished: number }> {
  const row = await pool.one(sql.type(countRow)`
    SELECT count(*) AS total, count(*) FILTER (WHERE published_at IS NULL) AS unpublished
      FROM outbox WHERE recipient_id LIKE ${`${prefix}-%`}`);
  return { total: Number(row.total), unpublished: Number(row.unpublished) };
}

/** Per recipient, the message ids in the order received. */
function byRecipient(received: readonly Received[], prefix: string): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const event of received) {
    if (!event.recipientId.startsWith(`${prefix}-`)) continue;
    const list = grouped.get(event.recipientId) ?? [];
    list.push(event.messageId);
    grouped.set(event.recipientId, list);
  }
  return grouped;
}

/** Keeps each id's first occurrence: what an at-least-once consumer that drops duplicates sees. */
function firstOccurrences(sequence: readonly string[]): string[] {
  const seen = new Set<string>();
  return sequence.filter((id) => (seen.has(id) ? false : (seen.add(id), true)));
}

function duplicates(received: readonly Received[], prefix: string): number {
  const own = received.filter((event) => event.recipientId.startsWith(`${prefix}-`));
  return own.length - new Set(own.map((event) => event.outboxId)).size;
}

const distinctOutboxIds = (received: readonly Received[], prefix: string): number =>
  new Set(received.filter((event) => event.recipientId.startsWith(`${prefix}-`)).map((event) => event.outboxId)).size;

describe('event relay', () => {
  const suffix = randomUUID().slice(0, 8);
  const topic = `switchboard.delivery-events.test-${suffix}`;
  const exchange = `switchboard.events.test-${suffix}`;
  const queue = `switchboard.events.test-${suffix}.all`;
  const groupId = `event-relay-test-${suffix}`;
  const logLines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logLines.push(line) } });
  const kafka = new Kafka({ clientId: `event-relay-test-${suffix}`, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  // A short fetch long-poll: disconnect() waits for the in-flight fetch (5 s by default).
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 });
  const fromKafka: Received[] = [];
  const fromRabbit: Received[] = [];
  const consumerErrors: Error[] = [];
  let db: TestDatabase | undefined;
  let pool: DatabasePool;
  let system: ActorSystem | undefined;
  let bridges: AnyActorRef;
  let rabbit: { connection: ChannelModel } | undefined;
  let topicCreated = false;
  let consumerJoined = false;
  let rabbitAppStopped = false;

  const relayView = (): ActorView | undefined =>
    inspect(system as ActorSystem, { path: RELAY_PATH, depth: 0, limit: 1 });
  const gauge = (name: string): GaugeValue | undefined => relayView()?.gauges?.[name];

  /** The test's own consumer: its own connection, reopened by the test after an outage. */
  async function openRabbitConsumer(): Promise<void> {
    const connection = await amqpConnect(amqpUrl);
    const channel = await connection.createChannel();
    // stop_app closes this connection too: expected, and it must not crash the process.
    connection.on('error', () => {});
    channel.on('error', (error: Error) => consumerErrors.push(error));
    await channel.assertExchange(exchange, 'topic', { durable: true });
    await channel.assertQueue(queue, { durable: true });
    await channel.bindQueue(queue, exchange, 'delivery.#');
    await channel.prefetch(1_000);
    await channel.consume(queue, (message) => {
      if (message === null) return;
      const event = eventOnWire.parse(JSON.parse(message.content.toString()));
      fromRabbit.push({
        outboxId: String(message.properties.headers?.[OUTBOX_ID_HEADER]),
        messageId: event.messageId,
        recipientId: event.recipientId,
        key: event.recipientId,
        routing: message.fields.routingKey,
        redelivered: message.fields.redelivered,
        persistent: message.properties.deliveryMode === 2,
        messageIdProperty: String(message.properties.messageId),
      });
      channel.ack(message);
    });
    rabbit = { connection };
  }

  async function startRabbitApp(): Promise<void> {
    await run('rabbitmqctl', ['start_app'], { timeout: 120_000 });
    await run('rabbitmqctl', ['await_startup'], { timeout: 120_000 });
    rabbitAppStopped = false;
  }

  beforeAll(async () => {
    db = await createTestDatabase('sbrelay');
    pool = await createPool(db.url, { maximumPoolSize: 4 });
    await migrate(pool);

    await admin.connect();
    topicCreated = await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    await consumer.connect();
    consumerJoined = true;
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message, partition }) => {
        const event = eventOnWire.parse(JSON.parse(message.value?.toString() ?? 'null'));
        fromKafka.push({
          outboxId: String(message.headers?.[OUTBOX_ID_HEADER]?.toString()),
          messageId: event.messageId,
          recipientId: event.recipientId,
          key: message.key?.toString() ?? '',
          routing: `delivery.${event.status}.${event.channel}`,
          partition,
        });
        return Promise.resolve();
      },
    });
    // The queue exists (and is bound) before the relay publishes: an exchange drops what no queue takes.
    await openRabbitConsumer();

    system = new ActorSystem({ clock: systemClock(), logger });
    bridges = system.spawn(system.root, 'bridges', SUPERVISOR);
    spawnBridge(
      system,
      bridges,
      'event-relay',
      eventRelayConnector({
        pool,
        kafka: { brokers, topic, clientId: `event-relay-${suffix}` },
        rabbit: { url: amqpUrl, exchange },
        lagRefreshMs: 1_000,
        clock: systemClock(),
        logger,
      }),
    );
    await waitFor(() => gauge('status') === 'running', { what: 'the relay to connect', timeoutMs: 60_000 });
  });

  afterAll(async () => {
    // RELAY_TEST_LOG=<file> keeps the log lines (relay, kafkajs, supervision) for a post-mortem.
    if (process.env.RELAY_TEST_LOG) writeFileSync(process.env.RELAY_TEST_LOG, logLines.join(''));
    // Every step runs whatever happened to the ones before; RabbitMQ is started first, for everyone else.
    const steps: Array<() => Promise<unknown>> = [
      async () => rabbitAppStopped && (await startRabbitApp()),
      async () => system?.shutdown(),
      async () => consumerJoined && (await consumer.disconnect()),
      async () => topicCreated && (await admin.deleteTopics({ topics: [topic] })),
      async () => consumerJoined && (await admin.deleteGroups([groupId])),
      () => admin.disconnect(),
      async () => rabbit?.connection.close(),
      async () => {
        if (rabbit === undefined) return;
        const cleanup = await amqpConnect(amqpUrl);
        const channel = await cleanup.createChannel();
        await channel.deleteQueue(queue);
        await channel.deleteExchange(exchange);
        await cleanup.close();
      },
      async () => pool?.end(),
      async () => db?.drop(),
    ];
    const failures: unknown[] = [];
    for (const step of steps) await step().catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw new AggregateError(failures, 'event relay test clean-up failed');
  }, 240_000);

  it('refuses to start with no broker configured', () => {
    expect(() => eventRelayConnector({ pool, clock: systemClock(), logger })).toThrow(EventRelayConfigError);
  });

  it('publishes 2,000 events for 50 recipients to both brokers in per-recipient order and marks them', async () => {
    const prefix = `ordered-${suffix}`;
    const events = makeEvents(prefix, 0, 2_000, 50);
    const started = performance.now();
    for (let i = 0; i < events.length; i += 200) await insertEvents(pool, events.slice(i, i + 200));

    await waitFor(async () => (await outboxCounts(pool, prefix)).unpublished === 0, {
      what: 'every row to be marked published',
      timeoutMs: 120_000,
    });
    const marked = performance.now();
    await waitFor(
      () => distinctOutboxIds(fromKafka, prefix) >= 2_000 && distinctOutboxIds(fromRabbit, prefix) >= 2_000,
      {
        what: 'every event on both brokers',
        timeoutMs: 120_000,
      },
    );
    const received = performance.now();

    const expected = await expectedOrder(pool, prefix);
    expect(expected.size).toBe(50);
    expect([...expected.values()].reduce((sum, list) => sum + list.length, 0)).toBe(2_000);
    // Exactly once and in write order per recipient on the healthy path: the idempotent producer and
    // the confirm channel add no duplicates of their own.
    expect(byRecipient(fromKafka, prefix)).toEqual(expected);
    expect(byRecipient(fromRabbit, prefix)).toEqual(expected);

    const byId = new Map(events.map((event) => [event.messageId, event]));
    const partitionOf = new Map<string, number | undefined>();
    for (const record of fromKafka.filter((r) => r.recipientId.startsWith(`${prefix}-`))) {
      expect(record.key).toBe(record.recipientId);
      if (!partitionOf.has(record.key)) partitionOf.set(record.key, record.partition);
      expect(record.partition).toBe(partitionOf.get(record.key));
    }
    expect(new Set(partitionOf.values()).size).toBeGreaterThan(1);
    for (const message of fromRabbit.filter((r) => r.recipientId.startsWith(`${prefix}-`))) {
      const event = byId.get(message.messageId);
      expect(message.routing).toBe(`delivery.${event?.status}.${event?.channel}`);
      expect(message.persistent).toBe(true);
      expect(message.messageIdProperty).toBe(message.outboxId);
    }

    await waitFor(() => gauge('lag') === 0, { what: 'the lag gauge to reach 0' });
    expect(relayView()?.gauges).toMatchObject({
      status: 'running',
      kafka: 'connected',
      rabbitmq: 'connected',
      published: 2_000,
      kafkaPublished: 2_000,
      rabbitmqPublished: 2_000,
      lag: 0,
      oldestUnpublishedAgeMs: 0,
    });
    console.info(
      `[event relay] 2,000 events: all marked published after ${Math.round(marked - started)} ms, ` +
        `all consumed from both brokers after ${Math.round(received - started)} ms; duplicates: kafka ` +
        `${duplicates(fromKafka, prefix)}, rabbitmq ${duplicates(fromRabbit, prefix)}`,
    );
  }, 240_000);

  it('waits idleMs on its clock when idle, looks again at once after a full batch, and closes once', async () => {
    // Its own database: the relay above would otherwise publish these rows itself.
    const own = await createTestDatabase('sbrelay');
    const ownPool = await createPool(own.url, { maximumPoolSize: 2 });
    const clock = new FakeClock(Date.now());
    const failures: Error[] = [];
    try {
      await migrate(ownPool);
      const connect = eventRelayConnector({
        pool: ownPool,
        rabbit: { url: amqpUrl, exchange },
        batchSize: 10,
        idleMs: 200,
        clock,
        logger,
      });
      const connection = await connect((error) => failures.push(error));
      // The first look found nothing: the loop now waits on the fake clock, and only on it.
      await waitFor(() => clock.pending === 1, { what: 'the idle wait' });
      const prefix = `cadence-${suffix}`;
      await insertEvents(ownPool, makeEvents(prefix, 0, 35, 5));
      expect((await outboxCounts(ownPool, prefix)).unpublished).toBe(35);
      expect(clock.pending).toBe(1);

      // One tick of idleMs: three full batches and the short rest go out without another tick.
      clock.advance(200);
      await waitFor(async () => (await outboxCounts(ownPool, prefix)).unpublished === 0, { what: '35 rows marked' });
      await waitFor(() => clock.pending === 1, { what: 'the next idle wait' });
      expect(connection.stats()).toMatchObject({
        status: 'running',
        rabbitmq: 'connected',
        published: 35,
        rabbitmqPublished: 35,
        lag: 0,
      });
      expect(connection.stats()).not.toHaveProperty('kafka');

      await Promise.all([connection.close(), connection.close()]);
      await connection.close();
      expect(connection.stats()).toMatchObject({ status: 'stopped', rabbitmq: 'disconnected' });
      expect(clock.pending).toBe(0);
      expect(failures).toEqual([]);
    } finally {
      await ownPool.end();
      await own.drop();
    }
  });

  // Last: it stops RabbitMQ's app, which every other RabbitMQ client on this machine notices.
  it('keeps events in the outbox through a RabbitMQ outage and publishes the backlog after reconnecting by itself', async () => {
    const prefix = `outage-${suffix}`;
    const recipients = 40;
    // One insert at a time, so a recipient's rows commit in id order: concurrent transactions commit
    // in any order, and the relay publishes rows in the order they become visible.
    let inserted = 0;
    let insertChain = Promise.resolve();
    const insertNext = (count: number): Promise<void> => {
      insertChain = insertChain.then(async () => {
        await insertEvents(pool, makeEvents(prefix, inserted, count, recipients));
        inserted += count;
      });
      return insertChain;
    };
    let inserting = true;
    // Inserts run the whole time (before, during and after the outage) at a steady rate: a load, not a wait.
    const inserter = (async () => {
      while (inserting) {
        await insertNext(10);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const timeline: string[] = [];
    const started = performance.now();
    const mark = (what: string) => timeline.push(`${what} at ${Math.round(performance.now() - started)} ms`);
    try {
      await waitFor(
        async () => {
          const counts = await outboxCounts(pool, prefix);
          return counts.total - counts.unpublished >= 200;
        },
        {
          what: 'the relay to be publishing the new events',
          timeoutMs: 60_000,
        },
      );
      // A backlog the relay needs seconds to work through, so the broker goes away under a batch in hand.
      await insertNext(BULK);
      mark(`${BULK} more events inserted at once`);
      const failuresBefore = relayView()?.failures ?? 0;
      mark('stop_app');
      rabbitAppStopped = true;
      await run('rabbitmqctl', ['stop_app'], { timeout: 120_000 });
      mark('stop_app done');

      await waitFor(() => gauge('rabbitmq') === 'disconnected' && (relayView()?.failures ?? 0) > failuresBefore, {
        what: 'the relay to report the lost connection',
        timeoutMs: 60_000,
      });
      mark('relay saw the outage');
      const insertedAtOutage = inserted;
      // Reconnect attempts keep failing while the broker is down, and the events pile up in the outbox.
      await waitFor(() => (relayView()?.failures ?? 0) >= failuresBefore + 3 && inserted >= insertedAtOutage + 300, {
        what: 'failed reconnects while events keep arriving',
        timeoutMs: 120_000,
      });
      const during = await outboxCounts(pool, prefix);
      expect(during.unpublished).toBeGreaterThanOrEqual(inserted - insertedAtOutage - 10);
      await waitFor(() => Number(gauge('lag') ?? 0) >= inserted - insertedAtOutage - 10, {
        what: 'the lag gauge to show the backlog',
        timeoutMs: 30_000,
      });
      expect(relayView()?.status).toMatch(/backoff|starting/);
      const backlogSeen = { unpublished: during.unpublished, lag: gauge('lag'), age: gauge('oldestUnpublishedAgeMs') };
      mark(
        `backlog ${backlogSeen.unpublished} rows (lag gauge ${String(backlogSeen.lag)}, oldest ${String(backlogSeen.age)} ms)`,
      );

      mark('start_app');
      await startRabbitApp();
      mark('start_app done');
      await openRabbitConsumer();
      await waitFor(() => gauge('rabbitmq') === 'connected', { what: 'the relay to reconnect', timeoutMs: 120_000 });
      mark('relay reconnected');
      // A little more traffic after the reconnect, then the inserts stop.
      const insertedAtReconnect = inserted;
      await waitFor(() => inserted >= insertedAtReconnect + 100, { what: 'inserts after the reconnect' });
      inserting = false;
      await inserter;

      const total = inserted;
      await waitFor(async () => (await outboxCounts(pool, prefix)).unpublished === 0, {
        what: 'the backlog to be published and marked',
        timeoutMs: 120_000,
      });
      mark('backlog marked published');
      await waitFor(
        () => distinctOutboxIds(fromKafka, prefix) >= total && distinctOutboxIds(fromRabbit, prefix) >= total,
        { what: 'every event on both brokers', timeoutMs: 120_000 },
      );
      mark('backlog consumed');

      const expected = await expectedOrder(pool, prefix);
      expect([...expected.values()].reduce((sum, list) => sum + list.length, 0)).toBe(total);
      // Nothing lost, and per recipient the first copy of each event comes in write order.
      const kafkaOrder = byRecipient(fromKafka, prefix);
      const rabbitOrder = byRecipient(fromRabbit, prefix);
      for (const [recipient, ids] of expected) {
        expect(firstOccurrences(kafkaOrder.get(recipient) ?? [])).toEqual(ids);
        expect(firstOccurrences(rabbitOrder.get(recipient) ?? [])).toEqual(ids);
      }
      const redelivered = fromRabbit.filter((m) => m.recipientId.startsWith(`${prefix}-`) && m.redelivered).length;
      console.info(
        `[event relay] outage: ${total} events, ${backlogSeen.unpublished} held in the outbox during the outage; ` +
          `duplicates: kafka ${duplicates(fromKafka, prefix)}, rabbitmq ${duplicates(fromRabbit, prefix)} ` +
          `(of which ${redelivered} redelivered by RabbitMQ to the test's consumer); relay restarts ` +
          `${relayView()?.restarts}, failures ${relayView()?.failures}\n  ${timeline.join('\n  ')}`,
      );
    } finally {
      inserting = false;
      await inserter.catch(() => {});
      if (rabbitAppStopped) await startRabbitApp();
    }
    expect(consumerErrors).toEqual([]);
    const errors = logLines.filter((line) => line.includes('"level":"error"'));
    expect(errors).toEqual([]);
  }, 480_000);
});
