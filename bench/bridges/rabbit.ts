// bench:bridges' RabbitMQ part: the §6 topology under a prefix of the run's own; each round N valid
// email sends are published (with confirms) for a bare amqplib consumer of the email queue (prefetch
// 256, JSON.parse and ack each), then N more for the real rabbit-ingest bridge.
import { RABBIT_INGEST_SETTINGS } from '../../supervisors/assembleBridges.ts';
import { type ChannelModel, type ConfirmChannel, connect } from 'amqplib';
import { type BridgeConnection, spawnBridge } from '../../actors/bridge/BridgeActor.ts';
import {
  declareTopology,
  type RabbitTopologyNames,
  topologyNames,
} from '../../actors/bridge/rabbitmq/declareTopology.ts';
import { rabbitIngestConnector } from '../../actors/bridge/rabbitmq/RabbitIngest.ts';
import { CHANNELS } from '../../runtime/messages/sendRequest.ts';
import { systemClock } from '../../runtime/time/Clock.ts';
import {
  batching,
  cleanUp,
  countMessages,
  emailSend,
  interrupted,
  ourIntake,
  progress,
  truncate,
  waitUntil,
  Window,
  type WindowFigures,
} from './common.ts';
import type { BenchContext } from './context.ts';

/** The bridge's prefetch as the service runs it, given to the bare consumer as well. */
const PREFETCH = RABBIT_INGEST_SETTINGS.prefetch;
const CONFIRM_CHUNK = 5_000;

export type RabbitOurFigures = WindowFigures & ReturnType<typeof batching>;

export class RabbitBench {
  readonly #context: BenchContext;
  readonly names: RabbitTopologyNames;
  #connection: ChannelModel | undefined;
  #publisher: ConfirmChannel | undefined;
  #declared = false;

  constructor(context: BenchContext) {
    this.#context = context;
    this.names = topologyNames(`bench-bridges-${context.run}.`);
  }

  async setUp(): Promise<void> {
    this.#connection = await connect(this.#context.amqpUrl);
    this.#connection.on('error', (error: unknown) => progress(`rabbitmq: bench connection error: ${String(error)}`));
    this.#publisher = await this.#connection.createConfirmChannel();
    this.#declared = true;
    await declareTopology(this.#publisher, this.names);
  }

  /** Publishes `records` persistent email sends keyed `<label>-<i>` and waits for the broker's confirms. */
  async #publish(label: string): Promise<void> {
    const publisher = this.#publisher;
    if (publisher === undefined) throw new Error('not set up');
    const { records, run } = this.#context;
    const started = performance.now();
    for (let from = 0; from < records; from += CONFIRM_CHUNK) {
      if (interrupted.signal.aborted) throw new Error('interrupted while publishing');
      for (let i = from; i < Math.min(from + CONFIRM_CHUNK, records); i++) {
        const body = Buffer.from(emailSend(`rabbit-${run}-${label}-${i}`, `user-${i % 1_000}`));
        const written = publisher.publish(this.names.sendExchange, 'email', body, {
          persistent: true,
          contentType: 'application/json',
        });
        if (!written) await new Promise((resolve) => publisher.once('drain', resolve));
      }
      await publisher.waitForConfirms();
    }
    const { messageCount } = await publisher.checkQueue(this.names.queues.email);
    if (messageCount !== records) throw new Error(`${messageCount} messages in the email queue, expected ${records}`);
    progress(`rabbitmq: published ${records} (${label}) in ${Math.round(performance.now() - started)} ms`);
  }

  /** A bare amqplib consumer of the email queue: the same prefetch, JSON.parse, ack each. */
  async baseline(roundIndex: number): Promise<WindowFigures> {
    const { records, amqpUrl, timeoutMs } = this.#context;
    await this.#publish(`bare-${roundIndex}`);
    const window = new Window(records);
    let parsedKeys = 0;
    const connection = await connect(amqpUrl);
    try {
      connection.on('error', (error: unknown) => progress(`rabbitmq: bare consumer error: ${String(error)}`));
      const channel = await connection.createChannel();
      await channel.prefetch(PREFETCH);
      const { consumerTag } = await channel.consume(
        this.names.queues.email,
        (message) => {
          if (message === null) return;
          window.first();
          const body = JSON.parse(message.content.toString()) as { idempotencyKey?: unknown } | null;
          if (typeof body?.idempotencyKey === 'string') parsedKeys++;
          channel.ack(message);
          window.finished();
        },
        { noAck: false },
      );
      await waitUntil(() => window.complete, {
        what: `the bare consumer to take ${records} messages`,
        timeoutMs,
        report: () => `bare consumer: ${window.count} of ${records} taken`,
      });
      await channel.cancel(consumerTag);
      await channel.close();
    } finally {
      await connection.close();
    }
    if (parsedKeys !== records) throw new Error(`the bare consumer parsed ${parsedKeys} sends of ${records}`);
    await this.#expectEmpty();
    return window.figures();
  }

  /** The real rabbit-ingest bridge until all N are durably accepted and acked. */
  async ours(roundIndex: number, profile?: (during: () => Promise<void>) => Promise<void>): Promise<RabbitOurFigures> {
    const { records, amqpUrl, timeoutMs, pool, system, bridges, logger } = this.#context;
    await truncate(pool);
    await this.#publish(`ours-${roundIndex}`);
    const ours = ourIntake(pool, records);
    const connections: BridgeConnection[] = [];
    const connector = rabbitIngestConnector({
      url: amqpUrl,
      intake: ours.intake,
      logger,
      names: this.names,
      clock: systemClock(),
      connectionName: `bench-bridges ${this.#context.run} rabbit-ingest ${roundIndex}`,
      ...RABBIT_INGEST_SETTINGS,
    });
    const measure = async () => {
      const ref = spawnBridge(system, bridges, `rabbit-ingest-${roundIndex}`, async (fail) => {
        const connection = await connector(fail);
        connections.push(connection);
        return connection;
      });
      try {
        await ours.accepted(`rabbit ingest round ${roundIndex + 1}`, timeoutMs);
        // Acked once accepted: wait for the acks to be counted too before the bridge stops.
        await waitUntil(() => connections.at(-1)?.stats()['email.accepted'] === records, {
          what: 'the bridge to ack every delivery',
          timeoutMs: 30_000,
        });
      } finally {
        await system.stop(ref);
      }
    };
    try {
      await (profile ? profile(measure) : measure());
    } finally {
      await ours.close();
    }
    const stats = connections.at(-1)?.stats() ?? {};
    const stored = await countMessages(pool);
    if (ours.window.count !== records || stored !== records || stats['email.invalid'] !== 0)
      throw new Error(
        `rabbit ingest: ${ours.window.count} routed, ${stored} stored, stats ${JSON.stringify(stats)}; expected ${records}`,
      );
    if (connections.length !== 1) progress(`rabbit ingest reconnected: ${connections.length} connections opened`);
    await this.#expectEmpty();
    return { ...ours.window.figures(), ...batching(ours.store.acceptStats()) };
  }

  async #expectEmpty(): Promise<void> {
    const { messageCount, consumerCount } = await (this.#publisher as ConfirmChannel).checkQueue(
      this.names.queues.email,
    );
    if (messageCount !== 0 || consumerCount !== 0)
      throw new Error(`the email queue still holds ${messageCount} messages and ${consumerCount} consumers`);
  }

  /** Deletes the run's queues and exchanges (after every consumer of them stopped). */
  async tearDown(): Promise<boolean> {
    const { names } = this;
    const channel = async () => {
      if (this.#connection === undefined) this.#connection = await connect(this.#context.amqpUrl);
      // A channel the broker closed (an error) cannot be reused: open a plain one for the clean-up.
      const plain = await this.#connection.createChannel();
      plain.on('error', () => {});
      return plain;
    };
    return cleanUp([
      [
        'deleting the rabbitmq queues and exchanges',
        async () => {
          if (!this.#declared) return;
          const amqp = await channel();
          for (const queue of [...CHANNELS.map((c) => names.queues[c]), names.deadQueue]) await amqp.deleteQueue(queue);
          for (const exchange of [names.sendExchange, names.deadLetterExchange, names.eventsExchange])
            await amqp.deleteExchange(exchange);
          await amqp.close();
        },
      ],
      ['closing the rabbitmq connection', () => this.#connection?.close()],
    ]);
  }
}
