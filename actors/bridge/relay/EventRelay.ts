// The event relay (ARCHITECTURE §3 step 6): delivery events go from the outbox to Kafka and/or
// RabbitMQ, at least once and in order per recipient; a broker outage leaves them in the outbox.
// This module turns options into the bridge's connector; the loop itself is RelayLoop.
// Order is that of the outbox ids among the rows visible at each read. Transactions that overlap can
// commit out of id order, and then their rows go out in commit order; a recipient's events that follow
// one another (each written after the previous one committed) always keep their order.
import type { DatabasePool } from 'slonik';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import type { Clock } from '../../../runtime/time/Clock.ts';
import type { BridgeConnector } from '../BridgeActor.ts';
import type { BrokerError, EventPublisher } from './EventPublisher.ts';
import { openKafkaPublisher } from './KafkaEventPublisher.ts';
import { OutboxBacklog } from './OutboxBacklog.ts';
import { openRabbitPublisher } from './RabbitEventPublisher.ts';
import { RelayLoop, type RelayTotals } from './RelayLoop.ts';

/** The Kafka topic of delivery events (ARCHITECTURE §6). */
export const DELIVERY_EVENTS_TOPIC = 'switchboard.delivery-events';
/** The RabbitMQ topic exchange of delivery events (ARCHITECTURE §6). */
export const DELIVERY_EVENTS_EXCHANGE = 'switchboard.events';

export type EventRelayOptions = {
  readonly pool: DatabasePool;
  readonly kafka?: {
    readonly brokers: readonly string[];
    /** Default `switchboard.delivery-events`. */
    readonly topic?: string;
    /** Default `switchboard-event-relay`. */
    readonly clientId?: string;
    /** Retries of a request inside kafkajs before the batch fails and the relay reconnects; default 5. */
    readonly retries?: number;
  };
  readonly rabbit?: {
    readonly url: string;
    /** Default `switchboard.events`. */
    readonly exchange?: string;
    /** AMQP heartbeat when the URL sets none; default 10 s. */
    readonly heartbeatSeconds?: number;
  };
  /** Rows per read, publish and mark; default 500. */
  readonly batchSize?: number;
  /** Wait before looking again when nothing was waiting; default 200 ms. */
  readonly idleMs?: number;
  /** Least interval between two count(*) of the backlog; default 5 s. */
  readonly lagRefreshMs?: number;
  /** How long `close` lets the batch in hand finish; default 10 s. */
  readonly drainMs?: number;
  readonly clock: Clock;
  readonly logger: Logger;
};

/** Options that cannot work: no broker, or a number out of range. */
export class EventRelayConfigError extends Error {
  constructor(message: string) {
    super(`event relay: ${message}`);
    this.name = 'EventRelayConfigError';
  }
}

type KafkaConfig = { brokers: readonly string[]; topic: string; clientId: string; retries: number };
type RabbitConfig = { url: string; exchange: string; heartbeatSeconds: number };

type RelayConfig = Readonly<{
  kafka: Readonly<KafkaConfig> | undefined;
  rabbit: Readonly<RabbitConfig> | undefined;
  batchSize: number;
  idleMs: number;
  lagRefreshMs: number;
  drainMs: number;
}>;

/**
 * The connector of the `event-relay` bridge. Each call (the first start and every reconnect) opens
 * the configured brokers and relays from the oldest unpublished outbox row.
 * @throws {EventRelayConfigError} when no broker is configured or a number is out of range.
 * @example spawnBridge(system, bridges, 'event-relay', eventRelayConnector({ pool, kafka: { brokers }, clock, logger }))
 */
export function eventRelayConnector(options: EventRelayOptions): BridgeConnector {
  const config = compileOptions(options);
  const { pool, clock } = options;
  const logger = options.logger.child({ component: 'event-relay' });
  // Shared by every connection, so figures survive reconnects.
  const backlog = new OutboxBacklog({ pool, clock, logger, refreshMs: config.lagRefreshMs });
  const totals: RelayTotals = { published: 0, confirmed: { kafka: 0, rabbitmq: 0 } };

  return async (fail) => {
    // A connection may break while the others are still opening, before there is a loop to tell.
    const early: { loop?: RelayLoop; broken?: BrokerError } = {};
    const onBroken = (error: BrokerError) => {
      if (early.loop === undefined) early.broken ??= error;
      else early.loop.broken(error);
    };
    const publishers = await openPublishers(config, logger, onBroken);
    if (early.broken !== undefined) {
      await closeQuietly(publishers, logger);
      throw early.broken;
    }
    const loop = new RelayLoop({
      pool,
      clock,
      logger,
      batchSize: config.batchSize,
      idleMs: config.idleMs,
      drainMs: config.drainMs,
      publishers,
      backlog,
      totals,
      fail,
    });
    early.loop = loop;
    loop.start();
    logger.info(
      {
        kafka: config.kafka ? { brokers: config.kafka.brokers, topic: config.kafka.topic } : null,
        rabbitmq: config.rabbit ? { exchange: config.rabbit.exchange } : null,
      },
      'event relay: connected',
    );
    return loop;
  };
}

/** Opens every configured broker; if one fails, closes the others and throws its error. */
async function openPublishers(
  config: RelayConfig,
  logger: Logger,
  onBroken: (error: BrokerError) => void,
): Promise<EventPublisher[]> {
  const opening: Array<Promise<EventPublisher>> = [];
  if (config.kafka) opening.push(openKafkaPublisher({ ...config.kafka, logger }));
  if (config.rabbit) opening.push(openRabbitPublisher({ ...config.rabbit, logger }, onBroken));
  const results = await Promise.allSettled(opening);
  const opened = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await closeQuietly(opened, logger);
    throw failed.reason;
  }
  return opened;
}

/** Closes connections that are being given up on; their close errors are expected and only logged. */
async function closeQuietly(publishers: readonly EventPublisher[], logger: Logger): Promise<void> {
  const results = await Promise.allSettled(publishers.map((publisher) => publisher.close()));
  for (const result of results)
    if (result.status === 'rejected') logger.debug({ err: result.reason }, 'event relay: close after a failed start');
}

function compileOptions(options: EventRelayOptions): RelayConfig {
  if (options.kafka === undefined && options.rabbit === undefined)
    throw new EventRelayConfigError('configure Kafka, RabbitMQ or both');
  if (options.kafka !== undefined && options.kafka.brokers.length === 0)
    throw new EventRelayConfigError('kafka.brokers is empty');
  const whole = (name: string, value: number | undefined, fallback: number, min: number): number => {
    const chosen = value ?? fallback;
    if (!Number.isInteger(chosen) || chosen < min)
      throw new EventRelayConfigError(`${name} must be an integer of at least ${min}, got ${chosen}`);
    return chosen;
  };
  return Object.freeze({
    kafka:
      options.kafka === undefined
        ? undefined
        : Object.freeze({
            brokers: Object.freeze([...options.kafka.brokers]),
            topic: options.kafka.topic ?? DELIVERY_EVENTS_TOPIC,
            clientId: options.kafka.clientId ?? 'switchboard-event-relay',
            retries: whole('kafka.retries', options.kafka.retries, 5, 1),
          }),
    rabbit:
      options.rabbit === undefined
        ? undefined
        : Object.freeze({
            url: options.rabbit.url,
            exchange: options.rabbit.exchange ?? DELIVERY_EVENTS_EXCHANGE,
            heartbeatSeconds: whole('rabbit.heartbeatSeconds', options.rabbit.heartbeatSeconds, 10, 1),
          }),
    batchSize: whole('batchSize', options.batchSize, 500, 1),
    idleMs: whole('idleMs', options.idleMs, 200, 0),
    lagRefreshMs: whole('lagRefreshMs', options.lagRefreshMs, 5_000, 0),
    drainMs: whole('drainMs', options.drainMs, 10_000, 0),
  });
}
