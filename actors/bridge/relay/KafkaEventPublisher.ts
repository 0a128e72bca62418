// Delivery events to a Kafka topic through an idempotent producer: one request in flight, acks from
// all in-sync replicas, keyed by recipient so a recipient's events share a partition and keep their
// order. The producer never outlives a failed send: the relay reconnects through its actor instead.
import { Kafka, type KafkaJSError, type LogEntry, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import {
  BrokerError,
  type BrokerOperation,
  type EventPublisher,
  OUTBOX_ID_HEADER,
  type OutboxEvent,
} from './EventPublisher.ts';

export type KafkaPublisherOptions = {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly clientId: string;
  /** Retries of one request inside the client before the send fails and the relay reconnects. */
  readonly retries: number;
  readonly logger: Logger;
};

/**
 * Connects an idempotent producer.
 * @throws {BrokerError} when no broker answers.
 */
export async function openKafkaPublisher(options: KafkaPublisherOptions): Promise<EventPublisher> {
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => forwardLog(options.logger, entry),
    retry: { retries: options.retries },
  });
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    // Named so the murmur2 (Java-compatible) partitioner is a choice, not a default that might change.
    createPartitioner: Partitioners.DefaultPartitioner,
    // Finite on purpose: an outage has to fail the send so the outbox holds the events and the relay
    // reconnects with backoff; the client's default for idempotent producers is to retry forever.
    retry: { retries: options.retries },
  });
  let connected = false;
  let closed: Promise<void> | undefined;
  producer.on(producer.events.DISCONNECT, () => {
    connected = false;
  });
  try {
    await producer.connect();
  } catch (error) {
    await producer.disconnect().catch((closeError: unknown) => {
      options.logger.debug({ err: closeError }, 'kafka: disconnect after a failed connect failed');
    });
    throw translateKafkaError(error, 'connect');
  }
  connected = true;

  return {
    broker: 'kafka',
    get state() {
      return connected ? 'connected' : 'disconnected';
    },
    async publish(events: readonly OutboxEvent[]): Promise<void> {
      if (events.length === 0) return;
      try {
        await producer.send({
          topic: options.topic,
          acks: -1,
          messages: events.map((event) => ({
            key: event.recipientId,
            value: event.body,
            headers: { [OUTBOX_ID_HEADER]: event.id },
          })),
        });
      } catch (error) {
        connected = false;
        throw translateKafkaError(error, 'publish');
      }
    },
    close(): Promise<void> {
      closed ??= producer.disconnect().then(
        () => {
          connected = false;
        },
        (error: unknown) => {
          connected = false;
          throw translateKafkaError(error, 'connection');
        },
      );
      return closed;
    },
  };
}

/** kafkajs wraps the broker's error (a protocol type, a socket code) in retry and connection errors. */
function translateKafkaError(error: unknown, operation: BrokerOperation): BrokerError {
  let code: string | undefined;
  let retriable = true;
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 6; depth++) {
    const { type, code: errorCode, retriable: flag } = e as KafkaJSError & { type?: unknown; code?: unknown };
    if (code === undefined && typeof type === 'string') code = type;
    if (code === undefined && typeof errorCode === 'string') code = errorCode;
    // The outermost "retries exceeded" is never retriable; what it gave up on says whether trying later helps.
    if (typeof flag === 'boolean' && e.name !== 'KafkaJSNumberOfRetriesExceeded') retriable = flag;
    e = (e as { originalError?: unknown }).originalError ?? e.cause;
  }
  return new BrokerError('kafka', operation, { code, retriable, cause: error });
}

function forwardLog(logger: Logger, entry: LogEntry): void {
  const { message, timestamp: _timestamp, ...fields } = entry.log;
  const context = { component: 'kafkajs', namespace: entry.namespace, ...fields };
  // A limited retry count is the point (see above): the client's warning about it is expected.
  if (message.startsWith('Limiting retries for the idempotent producer')) {
    logger.debug(context, message);
    return;
  }
  // Connection errors are logged by kafkajs on every retry; the relay reports the failure that counts.
  if (entry.level === logLevel.ERROR || entry.level === logLevel.WARN) logger.warn(context, `kafka: ${message}`);
  else logger.debug(context, `kafka: ${message}`);
}
