// Delivery events to a RabbitMQ topic exchange on a confirm channel: persistent messages, routing key
// `delivery.<status>.<channel>`, a batch done only when the broker has confirmed every message. A lost
// connection is reported (`onBroken`) and never reopened here: the relay reconnects through its actor.
import { type ChannelModel, type ConfirmChannel, connect } from 'amqplib';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import {
  BrokerError,
  type BrokerOperation,
  type EventPublisher,
  OUTBOX_ID_HEADER,
  type OutboxEvent,
} from './EventPublisher.ts';

export type RabbitPublisherOptions = {
  readonly url: string;
  readonly exchange: string;
  /** Heartbeat in seconds when the URL names none, so a silently dead peer is noticed. */
  readonly heartbeatSeconds: number;
  readonly logger: Logger;
};

/** AMQP reply codes that retrying will not cure: access refused, not found, precondition failed, not allowed. */
const PERMANENT_AMQP_CODES = new Set([403, 404, 406, 530]);

/**
 * Connects, opens a confirm channel and declares the exchange (topic, durable).
 * @param onBroken called once when the connection or channel closes without being asked to.
 * @throws {BrokerError} when the broker cannot be reached or refuses the declaration.
 */
export async function openRabbitPublisher(
  options: RabbitPublisherOptions,
  onBroken: (error: BrokerError) => void,
): Promise<EventPublisher> {
  const { exchange, logger } = options;
  let connection: ChannelModel;
  try {
    connection = await connect(withHeartbeat(options.url, options.heartbeatSeconds), {
      clientProperties: { connection_name: 'switchboard-event-relay' },
    });
  } catch (error) {
    throw translateAmqpError(error, 'connect');
  }
  let connected = true;
  let closing = false;
  let closed: Promise<void> | undefined;
  // The reason a connection or channel goes away arrives as 'error' just before its 'close'.
  let lastError: unknown;
  const broken = (what: string) => {
    connected = false;
    if (closing) return;
    closing = true;
    onBroken(translateAmqpError(lastError ?? new Error(`${what} closed by the broker`), 'connection'));
  };
  connection.on('error', (error: Error) => {
    lastError = error;
  });
  connection.on('close', (error?: Error) => {
    if (error !== undefined) lastError = error;
    broken('connection');
  });
  // A blocked connection (the broker's memory or disk alarm) holds publishes; confirms wait for it.
  let blocked = false;
  connection.on('blocked', (reason: string) => {
    blocked = true;
    logger.warn({ reason }, 'rabbitmq: connection blocked by the broker; publishing waits');
  });
  connection.on('unblocked', () => {
    blocked = false;
    logger.info('rabbitmq: connection unblocked');
  });

  let channel: ConfirmChannel;
  try {
    channel = await connection.createConfirmChannel();
    channel.on('error', (error: Error) => {
      lastError = error;
    });
    // When the connection goes, amqplib closes its channels before the connection reports why:
    // wait a microtask so the connection's reason (a reply code such as 320) is the one reported.
    channel.on('close', () => queueMicrotask(() => broken('channel')));
    await channel.assertExchange(exchange, 'topic', { durable: true });
  } catch (error) {
    closing = true;
    await connection.close().catch((closeError: unknown) => {
      logger.debug({ err: closeError }, 'rabbitmq: close after a failed set-up failed');
    });
    throw translateAmqpError(lastError ?? error, 'connect');
  }
  const ch = channel;

  /** Resolves when the socket's write buffer drains; rejects if the channel closes first. */
  const drained = () =>
    new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        ch.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        ch.off('drain', onDrain);
        reject(new Error('channel closed while waiting for its write buffer to drain'));
      };
      ch.once('drain', onDrain);
      ch.once('close', onClose);
    });

  return {
    broker: 'rabbitmq',
    get state() {
      if (!connected) return 'disconnected';
      return blocked ? 'blocked' : 'connected';
    },
    async publish(events: readonly OutboxEvent[]): Promise<void> {
      const confirms: Array<Promise<void>> = [];
      let failure: unknown;
      for (const event of events) {
        const confirm = Promise.withResolvers<void>();
        confirms.push(confirm.promise);
        let flowing: boolean;
        try {
          flowing = ch.publish(
            exchange,
            event.routingKey,
            Buffer.from(event.body),
            {
              persistent: true,
              contentType: 'application/json',
              messageId: event.id,
              appId: 'switchboard',
              headers: { [OUTBOX_ID_HEADER]: event.id },
            },
            (error: unknown) => (error ? confirm.reject(error) : confirm.resolve()),
          );
        } catch (error) {
          // Thrown before the confirm callback was registered (the channel is closed): it never fires.
          confirm.reject(error);
          break;
        }
        if (!flowing) {
          try {
            await drained();
          } catch (error) {
            failure = error;
            break;
          }
        }
      }
      // Every confirm settles: acked, nacked, or rejected when the channel closes.
      const results = await Promise.allSettled(confirms);
      const nacked = results.find((result) => result.status === 'rejected');
      failure ??= nacked?.reason;
      if (failure !== undefined) throw translateAmqpError(lastError ?? failure, 'publish');
    },
    close(): Promise<void> {
      closed ??= (async () => {
        const wasOpen = !closing;
        closing = true;
        if (!wasOpen) return;
        try {
          await connection.close();
        } catch (error) {
          throw translateAmqpError(error, 'connection');
        } finally {
          connected = false;
        }
      })();
      return closed;
    },
  };
}

function withHeartbeat(url: string, heartbeatSeconds: number): string {
  const parsed = new URL(url);
  if (parsed.searchParams.has('heartbeat')) return url;
  parsed.searchParams.set('heartbeat', String(heartbeatSeconds));
  return parsed.toString();
}

/** amqplib reports the server's reply code (`code`: 320 connection forced, 404 not found…) or a socket code. */
function translateAmqpError(error: unknown, operation: BrokerOperation): BrokerError {
  const raw = (error as { code?: unknown } | null)?.code;
  const code = typeof raw === 'number' || typeof raw === 'string' ? String(raw) : undefined;
  const retriable = !(typeof raw === 'number' && PERMANENT_AMQP_CODES.has(raw));
  return new BrokerError('rabbitmq', operation, { code, retriable, cause: error });
}
