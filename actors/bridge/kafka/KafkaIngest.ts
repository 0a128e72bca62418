// The Kafka ingest bridge's connection: a consumer group on the send-request topic that takes each
// batch through the send intake, commits offsets only after acceptance (or dead-lettering), pauses
// exactly the partitions whose next send's channel is pushed back, and reports a broken connection to
// its bridge actor, which reopens it with backoff (ARCHITECTURE §4, §6).
import { createHash } from 'node:crypto';
import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  Kafka,
  logLevel,
  Partitioners,
  type Producer,
} from 'kafkajs';
import type { GaugeValue } from '../../../runtime/kernel/ActorRef.ts';
import type { Logger } from '../../../runtime/logging/createLogger.ts';
import { type Clock, systemClock } from '../../../runtime/time/Clock.ts';
import type { BridgeConnection, BridgeConnector } from '../BridgeActor.ts';
import type { SendIntake } from '../SendIntake.ts';
import { ConsumerLag } from './ConsumerLag.ts';
import { deadLetterMessage } from './deadLetterMessage.ts';
import { type IngestContext, type IngestRecord, ingestRecords } from './ingestRecords.ts';
import { KafkaIngestError } from './KafkaIngestError.ts';
import { kafkaLogCreator } from './kafkaLogCreator.ts';
import { PartitionPauses } from './PartitionPauses.ts';

export type KafkaIngestOptions = {
  readonly brokers: readonly string[];
  readonly intake: SendIntake;
  readonly logger: Logger;
  readonly groupId?: string;
  readonly topic?: string;
  readonly dlqTopic?: string;
  /** Tenant of records without an `x-switchboard-tenant` header. */
  readonly tenant?: string;
  readonly clientId?: string;
  /** Partitions and replication of the topics when this bridge creates them. */
  readonly topicPartitions?: number;
  readonly replicationFactor?: number;
  /** Most records taken through the intake at once; between slices the backlog is looked at again. */
  readonly sliceSize?: number;
  /** Pause before reading records again whose acceptance found the store unavailable. */
  readonly retryAfterUnavailableMs?: number;
  /** Lag is read from the broker at most this often. */
  readonly lagRefreshMs?: number;
  /** Fetch long-poll; also bounds how long closing waits for the fetch in flight. */
  readonly maxWaitTimeInMs?: number;
  /**
   * Group session and rebalance timeouts (kafkajs defaults). After a broker restart the group waits
   * for the lost member's session to expire before the reopened connection gets its partitions.
   */
  readonly sessionTimeout?: number;
  readonly rebalanceTimeout?: number;
  readonly clock?: Clock;
};

export const KAFKA_INGEST_DEFAULTS = Object.freeze({
  groupId: 'switchboard',
  topic: 'switchboard.send-requests',
  dlqTopic: 'switchboard.send-requests.dlq',
  tenant: 'default',
  clientId: 'switchboard-kafka-ingest',
  topicPartitions: 3,
  replicationFactor: 1,
  sliceSize: 500,
  retryAfterUnavailableMs: 1_000,
  lagRefreshMs: 5_000,
  maxWaitTimeInMs: 500,
  sessionTimeout: 30_000,
  rebalanceTimeout: 60_000,
});

type KafkaIngestConfig = Readonly<
  Required<Omit<KafkaIngestOptions, 'brokers'>> & { readonly brokers: readonly string[] }
>;

/** `starting` → `consuming` → `closing` → `closed`; `failed` once the connection broke (closing follows). */
export type KafkaIngestState = 'starting' | 'consuming' | 'failed' | 'closing' | 'closed';

/**
 * The connector of the `kafka-ingest` bridge: each call opens a fresh connection (clients, group
 * membership); the bridge actor calls it again after a failure.
 * @example spawnBridge(system, bridges, 'kafka-ingest', kafkaIngestConnector({ brokers, intake, logger }))
 */
export function kafkaIngestConnector(options: KafkaIngestOptions): BridgeConnector {
  const config: KafkaIngestConfig = Object.freeze({
    ...KAFKA_INGEST_DEFAULTS,
    clock: systemClock(),
    ...withoutUndefined(options),
    brokers: [...options.brokers],
    intake: options.intake,
    logger: options.logger,
  });
  if (config.brokers.length === 0) throw new RangeError('kafka ingest needs at least one broker');
  if (!Number.isSafeInteger(config.sliceSize) || config.sliceSize < 1)
    throw new RangeError('sliceSize must be a positive integer');
  return (fail) => KafkaIngest.open(config, fail);
}

class KafkaIngest implements BridgeConnection {
  readonly #config: KafkaIngestConfig;
  readonly #fail: (error: Error) => void;
  readonly #logger: Logger;
  readonly #admin: Admin;
  readonly #producer: Producer;
  readonly #consumer: Consumer;
  readonly #pauses: PartitionPauses;
  readonly #lag: ConsumerLag;
  /** Ends waits (the back-off after an unavailable store) when closing. */
  readonly #closingSignal = new AbortController();
  #state: KafkaIngestState = 'starting';
  #failure: Error | undefined;
  #closed: Promise<void> | undefined;
  readonly #counts = { accepted: 0, created: 0, invalid: 0, unavailable: 0, pauses: 0 };

  static async open(config: KafkaIngestConfig, fail: (error: Error) => void): Promise<KafkaIngest> {
    const ingest = new KafkaIngest(config, fail);
    try {
      await ingest.#start();
      return ingest;
    } catch (error) {
      await ingest.close();
      throw error instanceof KafkaIngestError ? error : new KafkaIngestError('connect', error);
    }
  }

  private constructor(config: KafkaIngestConfig, fail: (error: Error) => void) {
    this.#config = config;
    this.#fail = fail;
    this.#logger = config.logger.child({ bridge: 'kafka-ingest', topic: config.topic, groupId: config.groupId });
    const kafka = new Kafka({
      clientId: config.clientId,
      brokers: [...config.brokers],
      logLevel: logLevel.INFO,
      logCreator: kafkaLogCreator(this.#logger),
    });
    // Few retries: at start the bridge actor retries with backoff, and a lag read is only informative
    // (closing waits for the one in flight).
    this.#admin = kafka.admin({ retry: { retries: 2 } });
    this.#producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    this.#consumer = kafka.consumer({
      groupId: config.groupId,
      maxWaitTimeInMs: config.maxWaitTimeInMs,
      sessionTimeout: config.sessionTimeout,
      rebalanceTimeout: config.rebalanceTimeout,
      // kafkajs would restart a crashed consumer by itself; the bridge actor does that, with backoff.
      retry: { restartOnFailure: () => Promise.resolve(false) },
    });
    this.#pauses = new PartitionPauses({
      topic: config.topic,
      consumer: this.#consumer,
      intake: config.intake,
      logger: this.#logger,
      onError: (error) => this.#lost(new KafkaIngestError('consume', error)),
    });
    this.#lag = new ConsumerLag({
      admin: this.#admin,
      groupId: config.groupId,
      topic: config.topic,
      refreshMs: config.lagRefreshMs,
      clock: config.clock,
      logger: this.#logger,
    });
  }

  stats(): Readonly<Record<string, GaugeValue>> {
    const lag = this.#state === 'consuming' ? this.#lag.current() : null;
    return {
      state: this.#state,
      topic: this.#config.topic,
      groupId: this.#config.groupId,
      assignedPartitions: this.#lag.assigned.join(','),
      // A partition paused and then given to another member is not ours to report.
      pausedPartitions: this.#pauses
        .paused()
        .filter((partition) => this.#lag.assigned.includes(partition))
        .join(','),
      accepted: this.#counts.accepted,
      duplicates: this.#counts.accepted - this.#counts.created,
      invalid: this.#counts.invalid,
      unavailableRetries: this.#counts.unavailable,
      pauses: this.#counts.pauses,
      lag,
      lagError: this.#lag.error,
      lastError: this.#failure?.message ?? null,
    };
  }

  /** Stops consuming after the slice in hand, then disconnects the consumer, producer and admin client. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #start(): Promise<void> {
    const { topic, dlqTopic, topicPartitions: numPartitions, replicationFactor } = this.#config;
    const { CRASH, GROUP_JOIN, DISCONNECT } = this.#consumer.events;
    this.#consumer.on(CRASH, ({ payload }) => this.#lost(new KafkaIngestError('consume', payload.error)));
    this.#consumer.on(GROUP_JOIN, ({ payload }) => this.#lag.assign(payload.memberAssignment[topic] ?? []));
    // A crash disconnects first and reports after: let the crash's own cause win.
    this.#consumer.on(DISCONNECT, () => this.#lostLater('the consumer disconnected'));
    this.#producer.on(this.#producer.events.DISCONNECT, () => this.#lostLater('the producer disconnected'));
    this.#admin.on(this.#admin.events.DISCONNECT, () => this.#lostLater('the admin client disconnected'));

    await this.#admin.connect();
    // Only the missing ones: kafkajs logs an existing topic's refusal as an error.
    const existing = new Set(await this.#admin.listTopics());
    const missing = [topic, dlqTopic].filter((name) => !existing.has(name));
    if (missing.length > 0)
      await this.#admin.createTopics({
        topics: missing.map((name) => ({ topic: name, numPartitions, replicationFactor })),
        waitForLeaders: true,
      });
    await this.#producer.connect();
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: [topic], fromBeginning: true });
    // Resolves once the group is joined; a failure to join is reported as a crash instead.
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: numPartitions,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#state !== 'starting') throw new KafkaIngestError('connect', new Error('closed while starting'));
    this.#state = 'consuming';
    this.#logger.info({ partitions: this.#lag.assigned }, 'kafka ingest consuming');
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { topic, partition, messages } = payload.batch;
    const context = this.#ingestContext(topic, partition);
    for (let from = 0; from < messages.length; from += this.#config.sliceSize) {
      // Closing or rebalancing: what is not committed is read again by whoever owns the partition.
      if (this.#state !== 'consuming' || !payload.isRunning() || payload.isStale()) return;
      const slice: IngestRecord[] = messages.slice(from, from + this.#config.sliceSize);
      const result = await ingestRecords(slice, context);
      this.#counts.accepted += result.accepted;
      this.#counts.created += result.created;
      this.#counts.invalid += result.deadLettered;
      const last = slice[result.done - 1];
      if (last !== undefined) {
        payload.resolveOffset(last.offset);
        const next = (BigInt(last.offset) + 1n).toString();
        await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
      }
      await payload.heartbeat();
      const { stop } = result;
      if (stop?.kind === 'pressured') {
        // The rest of the batch is fetched again on resume, from the first record not committed.
        if (this.#pauses.pause(partition, stop.channel)) this.#counts.pauses++;
        return;
      }
      if (stop?.kind === 'unavailable') {
        this.#counts.unavailable++;
        this.#logger.warn(
          { err: stop.error, partition, offset: stop.offset, retryInMs: this.#config.retryAfterUnavailableMs },
          'store unavailable; reading the records again after a pause',
        );
        await this.#wait(this.#config.retryAfterUnavailableMs);
        return;
      }
    }
  }

  #ingestContext(topic: string, partition: number): IngestContext {
    return {
      intake: this.#config.intake,
      defaultTenant: this.#config.tenant,
      fallbackKey: (record) => recordKey(topic, partition, record.offset),
      deadLetter: async (letters) => {
        try {
          await this.#producer.send({
            topic: this.#config.dlqTopic,
            messages: letters.map((letter) => deadLetterMessage(letter, topic, partition)),
          });
        } catch (error) {
          throw new KafkaIngestError('dead-letter', error);
        }
        for (const letter of letters)
          this.#logger.info(
            { partition, offset: letter.record.offset, reason: letter.reason },
            'send request dead-lettered',
          );
      },
    };
  }

  /** Reports a broken connection once, after `open` has returned (the bridge actor holds it by then). */
  #lost(error: Error): void {
    if (this.#state === 'closing' || this.#state === 'closed' || this.#failure !== undefined) return;
    this.#failure = error;
    if (this.#state === 'starting') return; // #start throws it
    this.#state = 'failed';
    this.#logger.warn({ err: error }, 'kafka connection lost');
    setImmediate(() => this.#fail(error));
  }

  #lostLater(what: string): void {
    setImmediate(() => this.#lost(new KafkaIngestError('connection', new Error(what))));
  }

  async #close(): Promise<void> {
    if (this.#state !== 'failed') this.#state = 'closing';
    this.#closingSignal.abort();
    this.#pauses.stop();
    const steps: Array<[string, () => Promise<void>]> = [
      // Waits for the batch in hand (which may still dead-letter through the producer).
      ['consumer', () => this.#consumer.disconnect()],
      ['producer', () => this.#producer.disconnect()],
      ['lag reader', () => this.#lag.stop()],
      ['admin client', () => this.#admin.disconnect()],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        // Closing goes on: the connection is being dropped either way, and a reopen starts afresh.
        this.#logger.warn({ err: error }, `could not close the kafka ${what} cleanly`);
      }
    }
    this.#state = 'closed';
  }

  /** Resolves after `ms`, or at once when closing starts. */
  #wait(ms: number): Promise<void> {
    const signal = this.#closingSignal.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#config.clock.clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.#config.clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * The idempotency key of a record that brings none: its position, which never changes, so a record
 * read twice is accepted once. Hashed when a long topic name would exceed the 256-character limit.
 */
export function recordKey(topic: string, partition: number, offset: string): string {
  const key = `kafka:${topic}:${partition}:${offset}`;
  if (key.length <= 256) return key;
  return `kafka:${createHash('sha256').update(topic).digest('hex')}:${partition}:${offset}`;
}

function withoutUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
