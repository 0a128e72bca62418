// What bench:bridges hands its Kafka and RabbitMQ parts.
import type { DatabasePool } from 'slonik';
import type { AnyActorRef } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import type { Logger } from '../../runtime/logging/createLogger.ts';

export type BenchContext = {
  /** Unique to the run: part of every topic, group, queue and exchange name. */
  readonly run: string;
  /** Records (messages) each side reads per round. */
  readonly records: number;
  /** Longest any one side may take to finish a round. */
  readonly timeoutMs: number;
  readonly pool: DatabasePool;
  readonly system: ActorSystem;
  /** The supervisor the bridges are spawned under. */
  readonly bridges: AnyActorRef;
  readonly brokers: string[];
  readonly amqpUrl: string;
  readonly logger: Logger;
};
