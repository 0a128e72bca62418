// Smoke test for the local Kafka broker: a keyed record with a header survives a round trip through
// a fresh single-partition topic (proves the broker, its group coordinator and kafkajs all work).
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/waitFor.ts';

interface ReceivedRecord {
  key: string | undefined;
  value: string | undefined;
  header: string | undefined;
}

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((broker) => broker.trim());

describe('kafka smoke', () => {
  const suffix = randomUUID();
  const topic = `smoke-${suffix}`;
  const kafka = new Kafka({ clientId: `smoke-${suffix}`, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const groupId = `smoke-group-${suffix}`;
  // A short fetch long-poll: disconnect() waits for the in-flight fetch (5 s by default).
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 });
  let consumerJoined = false;
  let topicCreated = false;

  beforeAll(async () => {
    await admin.connect();
    topicCreated = await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
  });

  afterAll(async () => {
    await consumer.disconnect();
    await producer.disconnect();
    if (topicCreated) await admin.deleteTopics({ topics: [topic] });
    // Empty groups otherwise linger on the broker until offsets retention expires them.
    if (consumerJoined) await admin.deleteGroups([groupId]);
    await admin.disconnect();
  });

  it('creates the topic', () => {
    expect(topicCreated).toBe(true);
  });

  it('delivers a produced record with its key, value and header', async () => {
    await producer.connect();
    await producer.send({
      topic,
      messages: [{ key: 'recipient-1', value: '{"hello":"kafka"}', headers: { 'x-smoke': 'header-value' } }],
    });

    const received: ReceivedRecord[] = [];
    await consumer.connect();
    consumerJoined = true;
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const header = message.headers?.['x-smoke'];
        received.push({
          key: message.key?.toString(),
          value: message.value?.toString(),
          header: header === undefined || Array.isArray(header) ? undefined : header.toString(),
        });
        return Promise.resolve();
      },
    });

    const record = await waitFor(() => received[0], { what: `a record on ${topic}` });
    expect(record).toEqual({ key: 'recipient-1', value: '{"hello":"kafka"}', header: 'header-value' });
    expect(received).toHaveLength(1);
  });
});
