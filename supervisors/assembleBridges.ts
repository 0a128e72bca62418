// The bridges under /switchboard/bridges, from config: Kafka ingest when KAFKA_BROKERS is set,
// RabbitMQ ingest when AMQP_URL is set, and the event relay when either is.
import type { DatabasePool } from 'slonik';
import { spawnBridge } from '../actors/bridge/BridgeActor.ts';
import { kafkaIngestConnector } from '../actors/bridge/kafka/KafkaIngest.ts';
import { rabbitIngestConnector } from '../actors/bridge/rabbitmq/RabbitIngest.ts';
import { eventRelayConnector } from '../actors/bridge/relay/EventRelay.ts';
import type { SendIntake } from '../actors/bridge/SendIntake.ts';
import type { Config } from '../runtime/config/loadConfig.ts';
import type { AnyActorRef } from '../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../runtime/kernel/ActorSystem.ts';
import type { Logger } from '../runtime/logging/createLogger.ts';
import type { Clock } from '../runtime/time/Clock.ts';

/** Slices of 1,000 records fill the acceptance writer's transactions (it writes up to 1,000 rows each). */
export const KAFKA_INGEST_SETTINGS = { sliceSize: 1_000 } as const;

/**
 * A window of 1,000 unacked deliveries per queue, accepted in groups of 500: transactions large
 * enough that the commit is not the limit. A pushed-back channel holds at most that many unacked.
 */
export const RABBIT_INGEST_SETTINGS = { prefetch: 1_000, batchSize: 500 } as const;

export type AssembleBridgesOptions = {
  readonly system: ActorSystem;
  /** The `bridges` supervisor. */
  readonly parent: AnyActorRef;
  readonly config: Pick<Config, 'kafkaBrokers' | 'amqpUrl'>;
  readonly intake: SendIntake;
  readonly pool: DatabasePool;
  readonly clock: Clock;
  readonly logger: Logger;
};

/** Spawns the configured bridges; returns their names. */
export function assembleBridges(options: AssembleBridgesOptions): string[] {
  const { system, parent, config, intake, clock } = options;
  const spawned: string[] = [];
  const kafka = config.kafkaBrokers.length > 0 ? { brokers: config.kafkaBrokers } : undefined;
  if (kafka) {
    const logger = options.logger.child({ actor: 'bridges/kafka-ingest' });
    spawnBridge(
      system,
      parent,
      'kafka-ingest',
      kafkaIngestConnector({ brokers: kafka.brokers, intake, logger, clock, ...KAFKA_INGEST_SETTINGS }),
    );
    spawned.push('kafka-ingest');
  }
  if (config.amqpUrl) {
    const logger = options.logger.child({ actor: 'bridges/rabbit-ingest' });
    spawnBridge(
      system,
      parent,
      'rabbit-ingest',
      rabbitIngestConnector({ url: config.amqpUrl, intake, logger, clock, ...RABBIT_INGEST_SETTINGS }),
    );
    spawned.push('rabbit-ingest');
  }
  if (kafka || config.amqpUrl) {
    const logger = options.logger.child({ actor: 'bridges/event-relay' });
    spawnBridge(
      system,
      parent,
      'event-relay',
      eventRelayConnector({
        pool: options.pool,
        ...(kafka ? { kafka } : {}),
        ...(config.amqpUrl ? { rabbit: { url: config.amqpUrl } } : {}),
        clock,
        logger,
      }),
    );
    spawned.push('event-relay');
  }
  return spawned;
}
