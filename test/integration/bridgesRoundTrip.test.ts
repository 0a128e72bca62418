// The bridges end to end on the real brokers: 10,000 sends produced to Kafka and 10,000 published to
// RabbitMQ are each mailed exactly once, and 20,000 delivery events come back on the Kafka topic and
// the RabbitMQ exchange. The contract's topic and queue names are shared across runs, so every send
// carries this run's id and only this run's messages are counted.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtpServer.ts';
import { waitFor } from '../support/waitFor.ts';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const PER_BROKER = 10_000;

type DeliveryEvent = {
  messageId: string;
  idempotencyKey: string | null;
  status: string;
  channel: string;
  recipientId: string;
};

describe('bridges round trip', () => {
  const run = randomUUID().slice(0, 8);
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let dataDir: string;
  let service: Switchboard;
  const kafka = new Kafka({ clientId: `round-trip-${run}`, brokers: BROKERS, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const eventsConsumer = kafka.consumer({ groupId: `round-trip-events-${run}`, maxWaitTimeInMs: 250 });
  let amqpConnection: amqp.ChannelModel;
  const kafkaEvents = new Map<string, DeliveryEvent>();
  const rabbitEvents = new Map<string, { event: DeliveryEvent; routingKey: string }>();

  beforeAll(async () => {
    db = await createTestDatabase();
    smtp = await startSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-bridges-'));
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      SMTP_URL: smtp.url,
      KAFKA_BROKERS: BROKERS.join(','),
      AMQP_URL,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: 'round-trip-api-key-0000',
      SWITCHBOARD_CHANNEL_BACKLOG_LIMIT: '1000000',
    });
    service = await Switchboard.start({ config, logger: createLogger({ level: 'error' }) });
    await waitFor(() => service.tree.system.lookup('/switchboard/bridges/kafka-ingest')?.status === 'running', {
      timeoutMs: 60_000,
      what: 'the Kafka bridge connected',
    });
    await waitFor(() => service.tree.system.lookup('/switchboard/bridges/rabbit-ingest')?.status === 'running', {
      timeoutMs: 60_000,
      what: 'the RabbitMQ bridge connected',
    });

    // Delivery events: this run's, from the topic and from a queue bound to the exchange.
    // The relay publishes to the topic without creating it; make sure it exists before subscribing.
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: 'switchboard.delivery-events', numPartitions: 3, replicationFactor: 1 }],
    });
    await admin.disconnect();
    await eventsConsumer.connect();
    await eventsConsumer.subscribe({ topic: 'switchboard.delivery-events', fromBeginning: true });
    await eventsConsumer.run({
      eachMessage: ({ message }) => {
        const event = JSON.parse(message.value?.toString() ?? '{}') as DeliveryEvent;
        if (event.idempotencyKey?.startsWith(run)) kafkaEvents.set(event.messageId, event);
        return Promise.resolve();
      },
    });
    amqpConnection = await amqp.connect(AMQP_URL);
    const channel = await amqpConnection.createChannel();
    const queue = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue.queue, 'switchboard.events', 'delivery.#');
    await channel.consume(queue.queue, (message) => {
      if (message === null) return;
      const event = JSON.parse(message.content.toString()) as DeliveryEvent;
      if (event.idempotencyKey?.startsWith(run))
        rabbitEvents.set(event.messageId, { event, routingKey: message.fields.routingKey });
      channel.ack(message);
    });
    await producer.connect();
  });

  afterAll(async () => {
    await producer.disconnect().catch(() => {});
    await eventsConsumer.disconnect().catch(() => {});
    await amqpConnection?.close().catch(() => {});
    await service?.stop(5_000);
    await smtp?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const send = (source: string, i: number) => ({
    idempotencyKey: `${run}:${source}:${i}`,
    channel: 'email',
    to: { id: `${source}-${i % 500}`, email: `${source}${i}@example.com` },
    content: { subject: `${run} ${source} #${i}`, text: 'round trip' },
  });

  it(
    'delivers every send from Kafka and RabbitMQ exactly once and reports each on both brokers',
    { timeout: 600_000 },
    async () => {
      for (let from = 0; from < PER_BROKER; from += 1_000) {
        await producer.send({
          topic: 'switchboard.send-requests',
          messages: Array.from({ length: 1_000 }, (_, k) => {
            const body = send('kafka', from + k);
            return { key: body.to.id, value: JSON.stringify(body) };
          }),
        });
      }
      const publisher = await amqpConnection.createConfirmChannel();
      for (let i = 0; i < PER_BROKER; i++) {
        publisher.publish('switchboard.send', 'email', Buffer.from(JSON.stringify(send('rabbit', i))), {
          persistent: true,
        });
      }
      await publisher.waitForConfirms();

      const total = 2 * PER_BROKER;
      const ours = () => smtp.mails.filter((mail) => mail.parsed.subject?.startsWith(`${run} `));
      await waitFor(() => ours().length >= total, { timeoutMs: 420_000, intervalMs: 1_000, what: `${total} mails` });
      const subjects = ours().map((mail) => mail.parsed.subject);
      expect(new Set(subjects).size).toBe(total);
      expect(subjects.length).toBe(total);

      await waitFor(() => kafkaEvents.size >= total && rabbitEvents.size >= total, {
        timeoutMs: 120_000,
        intervalMs: 1_000,
        what: `${total} delivery events on each broker`,
      });
      expect([...kafkaEvents.values()].every((event) => event.status === 'sent' && event.channel === 'email')).toBe(
        true,
      );
      expect([...rabbitEvents.values()].every(({ routingKey }) => routingKey === 'delivery.sent.email')).toBe(true);
    },
  );
});
