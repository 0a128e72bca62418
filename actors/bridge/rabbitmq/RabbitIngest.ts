// The rabbit-ingest bridge's connection: one AMQP connection with one consumer channel per channel
// queue, so a pushed-back or failing channel never stalls another (ARCHITECTURE §2, §4, §6). It never
// reconnects by itself: a break is reported through `fail`, and the bridge actor's restart opens a
// new connection after the old one, with all its consumers, is closed.
import { type ChannelModel, connect } from 'amqplib';
import type { GaugeValue } from '../../../runtime/kernel/ActorRef.ts';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import { CHANNELS, type Channel } from '../../../runtime/messages/sendRequest.ts';
import { type Clock, systemClock } from '../../../runtime/time/Clock.ts';
import type { BridgeConnection, BridgeConnector } from '../BridgeActor.ts';
import { AmqpError, translateAmqpError } from './AmqpError.ts';
import { declareTopology, type RabbitTopologyNames, topologyNames } from './declareTopology.ts';
import { tenantProblem } from './ingestHeaders.ts';
import { QueueConsumer, type QueueIntake } from './QueueConsumer.ts';

export type RabbitIngestOptions = {
  /** `amqp://user:password@host:port/vhost`; credentials never reach the log. */
  readonly url: string;
  readonly intake: QueueIntake;
  readonly logger: Logger;
  /** Unacked deliveries per queue: the window that closes while a channel is pushed back. Default 256. */
  readonly prefetch?: number;
  /** Tenant of sends without an `x-switchboard-tenant` header. Default `default`. */
  readonly tenant?: string;
  /** Exchange and queue names. Default {@link topologyNames}(). */
  readonly names?: RabbitTopologyNames;
  /** Declare the topology on every connect (idempotent). Default true. */
  readonly declare?: boolean;
  /** Most deliveries accepted as one group. Default 200. */
  readonly batchSize?: number;
  /** Longest a delivery waits for its group to fill. Default 5 ms. */
  readonly batchDelayMs?: number;
  /** Pause before a delivery the store could not take goes back to the broker. Default 1,000 ms. */
  readonly retryAfterMs?: number;
  /** Longest the TCP connect may take. Default 10,000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * Longest close() waits for each queue's groups in hand, and then for the broker to confirm the
   * connection's close, before it forces them. Default 10,000 ms.
   */
  readonly closeTimeoutMs?: number;
  /** The connection's name in `rabbitmqctl list_connections` and the management UI. */
  readonly connectionName?: string;
  readonly clock?: Clock;
};

/** `lost`: broken and reported; waiting for the actor to close it and open a new one. */
export type RabbitIngestState = 'connecting' | 'open' | 'lost' | 'closing' | 'closed';

/** Options that cannot work (a zero prefetch, a tenant with a colon). */
export class RabbitIngestOptionsError extends RangeError {
  readonly option: string;
  constructor(option: string, problem: string) {
    super(`rabbit-ingest option ${option}: ${problem}`);
    this.name = 'RabbitIngestOptionsError';
    this.option = option;
  }
}

type CompiledOptions = Readonly<
  Required<Omit<RabbitIngestOptions, 'connectionName'>> & { connectionName: string; broker: string }
>;

/**
 * The connector of the `rabbit-ingest` bridge: each call opens a connection, declares the topology,
 * and starts one consumer per channel queue.
 * @example spawnBridge(system, bridges, 'rabbit-ingest', rabbitIngestConnector({ url, intake, logger }))
 * @throws {RabbitIngestOptionsError} at once, for options that cannot work.
 */
export function rabbitIngestConnector(options: RabbitIngestOptions): BridgeConnector {
  const compiled = compileOptions(options);
  return async (fail) => {
    const ingest = new RabbitIngest(compiled, fail);
    await ingest.open();
    return ingest;
  };
}

function compileOptions(options: RabbitIngestOptions): CompiledOptions {
  const compiled = {
    url: options.url,
    intake: options.intake,
    logger: options.logger.child({ bridge: 'rabbit-ingest' }),
    prefetch: options.prefetch ?? 256,
    tenant: options.tenant ?? 'default',
    names: options.names ?? topologyNames(),
    declare: options.declare ?? true,
    batchSize: options.batchSize ?? 200,
    batchDelayMs: options.batchDelayMs ?? 5,
    retryAfterMs: options.retryAfterMs ?? 1_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    closeTimeoutMs: options.closeTimeoutMs ?? 10_000,
    connectionName: options.connectionName ?? 'switchboard rabbit-ingest',
    clock: options.clock ?? systemClock(),
    broker: describeBroker(options.url),
  };
  // AMQP's prefetch count is a 16-bit field; 0 would mean "unlimited" and defeat the push-back.
  if (!Number.isInteger(compiled.prefetch) || compiled.prefetch < 1 || compiled.prefetch > 65_535)
    throw new RabbitIngestOptionsError('prefetch', 'an integer from 1 to 65535');
  for (const key of ['batchSize', 'batchDelayMs', 'retryAfterMs', 'connectTimeoutMs', 'closeTimeoutMs'] as const) {
    const value = compiled[key];
    if (!Number.isInteger(value) || value < (key === 'batchSize' ? 1 : 0))
      throw new RabbitIngestOptionsError(key, 'a non-negative integer (batchSize at least 1)');
  }
  const tenantInvalid = tenantProblem(compiled.tenant);
  if (tenantInvalid !== undefined) throw new RabbitIngestOptionsError('tenant', tenantInvalid);
  return Object.freeze(compiled);
}

/** The broker's address without credentials, for logs and errors. */
function describeBroker(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'the broker (unparseable AMQP URL)';
  }
}

class RabbitIngest implements BridgeConnection {
  readonly #options: CompiledOptions;
  readonly #fail: (error: Error) => void;
  readonly #log: Logger;
  #state: RabbitIngestState = 'connecting';
  #connection: ChannelModel | undefined;
  readonly #consumers = new Map<Channel, QueueConsumer>();
  /** A break while connecting: open() rejects with it instead of reporting it. */
  #setupError: Error | undefined;
  #blocked = false;
  #closing: Promise<void> | undefined;

  constructor(options: CompiledOptions, fail: (error: Error) => void) {
    this.#options = options;
    this.#fail = fail;
    this.#log = options.logger;
  }

  /** Connects and starts consuming; on any failure closes what it opened (no consumer survives) and rejects. */
  async open(): Promise<void> {
    try {
      await this.#open();
    } catch (error) {
      const failure = translateAmqpError(this.#setupError ?? error, this.#options.broker);
      await this.close();
      throw failure;
    }
  }

  async #open(): Promise<void> {
    const { url, broker, names, connectTimeoutMs, connectionName } = this.#options;
    const connection = await connect(url, {
      timeout: connectTimeoutMs,
      clientProperties: { connection_name: connectionName },
    });
    this.#connection = connection;
    // Without an 'error' listener an emitted error would be thrown from the socket's handler.
    connection.on('error', (error: unknown) => this.#broken(translateAmqpError(error, 'connection')));
    connection.on('close', (error?: unknown) =>
      this.#broken(
        error === undefined
          ? new AmqpError('connection closed', { code: 'CONNECTION_CLOSED', where: 'connection' })
          : translateAmqpError(error, 'connection'),
      ),
    );
    connection.on('blocked', (reason: string) => {
      this.#blocked = true;
      this.#log.warn({ reason }, 'broker blocked the connection (a resource alarm); dead letters wait');
    });
    connection.on('unblocked', () => {
      this.#blocked = false;
      this.#log.info('broker unblocked the connection');
    });
    if (this.#options.declare) {
      const setup = await connection.createChannel();
      setup.on('error', (error: unknown) => this.#broken(translateAmqpError(error, 'topology')));
      await declareTopology(setup, names);
      await setup.close();
    }
    for (const channel of CHANNELS) {
      const consumer = new QueueConsumer({
        channel,
        queue: names.queues[channel],
        deadLetterExchange: names.deadLetterExchange,
        intake: this.#options.intake,
        prefetch: this.#options.prefetch,
        batchSize: this.#options.batchSize,
        batchDelayMs: this.#options.batchDelayMs,
        retryAfterMs: this.#options.retryAfterMs,
        drainTimeoutMs: this.#options.closeTimeoutMs,
        tenant: this.#options.tenant,
        clock: this.#options.clock,
        logger: this.#log,
        onBroken: (error) => this.#broken(error),
      });
      this.#consumers.set(channel, consumer);
      await consumer.start(connection);
    }
    if (this.#setupError !== undefined) throw this.#setupError;
    this.#state = 'open';
    this.#log.info({ broker, queues: Object.values(names.queues), prefetch: this.#options.prefetch }, 'consuming');
  }

  /** Reports the first break of an open connection; later ones, and those while closing, change nothing. */
  #broken(error: Error): void {
    switch (this.#state) {
      case 'connecting':
        this.#setupError ??= error;
        return;
      case 'open':
        this.#state = 'lost';
        this.#log.warn(
          { err: error, broker: this.#options.broker },
          'connection unusable; the bridge restarts and reconnects',
        );
        this.#fail(error);
        return;
      case 'lost':
      case 'closing':
      case 'closed':
        return;
    }
  }

  stats(): Readonly<Record<string, GaugeValue>> {
    const stats: Record<string, GaugeValue> = { connection: this.#state, blocked: this.#blocked };
    for (const [channel, consumer] of this.#consumers) {
      for (const [key, value] of Object.entries(consumer.stats())) stats[`${channel}.${key}`] = value;
    }
    return stats;
  }

  /**
   * Cancels every consumer, finishes the groups in hand, hands held deliveries back to the broker,
   * and closes the channels and the connection. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    await Promise.all([...this.#consumers.values()].map((consumer) => consumer.stop()));
    const connection = this.#connection;
    if (connection !== undefined) {
      const { clock, closeTimeoutMs } = this.#options;
      await new Promise<void>((resolve) => {
        const timer = clock.setTimeout(() => {
          this.#log.warn({ closeTimeoutMs }, 'the broker did not confirm closing the connection in time');
          resolve();
        }, closeTimeoutMs);
        // A connection that is already gone refuses to close; there is nothing left to close then.
        connection
          .close()
          .catch(() => {})
          .finally(() => {
            clock.clearTimeout(timer);
            resolve();
          });
      });
    }
    this.#state = 'closed';
  }
}
