// What the relay asks of a broker: publish a batch of delivery events and say only when the broker has
// confirmed all of them. Broker errors leave here as one class carrying the broker's own code.

/** The brokers delivery events go to (ARCHITECTURE §6). */
export type BrokerName = 'kafka' | 'rabbitmq';

/** The header (Kafka record header, AMQP header) naming the outbox row on every published event. */
export const OUTBOX_ID_HEADER = 'switchboard-outbox-id';

/** One outbox row, ready to publish. */
export type OutboxEvent = {
  /** The outbox row id: consumers may use it to drop the duplicates at-least-once allows. */
  readonly id: string;
  readonly recipientId: string;
  /** `delivery.<status>.<channel>` */
  readonly routingKey: string;
  /** The delivery event as JSON. */
  readonly body: string;
};

export type PublisherState = 'connected' | 'blocked' | 'disconnected';

/** An open connection to one broker. */
export interface EventPublisher {
  readonly broker: BrokerName;
  /** `blocked`: the broker holds publishes (a RabbitMQ memory or disk alarm). */
  readonly state: PublisherState;
  /**
   * Publishes the events in order and resolves once the broker has confirmed every one of them.
   * @throws {BrokerError} when any of them is not confirmed; some may have been published.
   */
  publish(events: readonly OutboxEvent[]): Promise<void>;
  /** Closes the connection. Idempotent. */
  close(): Promise<void>;
}

export type BrokerOperation = 'connect' | 'publish' | 'connection';

/** A broker refused, dropped or failed an operation; `code` is the broker's own (Kafka error type, AMQP reply code, socket code). */
export class BrokerError extends Error {
  readonly broker: BrokerName;
  readonly operation: BrokerOperation;
  readonly code: string | undefined;
  /** False when retrying cannot help until an operator acts (authorization, a mis-declared exchange). */
  readonly retriable: boolean;

  constructor(
    broker: BrokerName,
    operation: BrokerOperation,
    details: { readonly code: string | undefined; readonly retriable: boolean; readonly cause: unknown },
  ) {
    const reason = details.cause instanceof Error ? details.cause.message : String(details.cause);
    super(`${broker} ${operation} failed${details.code ? ` (${details.code})` : ''}: ${reason}`, {
      cause: details.cause,
    });
    this.name = 'BrokerError';
    this.broker = broker;
    this.operation = operation;
    this.code = details.code;
    this.retriable = details.retriable;
  }
}
