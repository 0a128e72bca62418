// bench:bridges' Kafka part: N valid sends produced once to a topic of the run's own (3 partitions);
// each round a bare kafkajs consumer (eachBatch, JSON.parse per record) and the real Kafka ingest
// bridge read all of it from the beginning, each in a group of its own.
import { KAFKA_INGEST_SETTINGS } from '../../supervisors/assembleBridges.ts';
import { type Admin, Kafka, logLevel, Partitioners } from 'kafkajs';
import { type BridgeConnection, spawnBridge } from '../../actors/bridge/BridgeActor.ts';
import { KAFKA_INGEST_DEFAULTS, kafkaIngestConnector } from '../../actors/bridge/kafka/KafkaIngest.ts';
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

const PARTITIONS = 3;
const PRODUCE_CHUNK = 2_000;

export type KafkaOurFigures = WindowFigures & ReturnType<typeof batching>;

export class KafkaBench {
  readonly #context: BenchContext;
  readonly #kafka: Kafka;
  readonly #admin: Admin;
  readonly topic: string;
  readonly dlqTopic: string;
  readonly #groups: string[] = [];
  #topicsCreated = false;

  constructor(context: BenchContext) {
    this.#context = context;
    this.#kafka = new Kafka({
      clientId: `bench-bridges-${context.run}`,
      brokers: context.brokers,
      logLevel: logLevel.NOTHING,
    });
    this.#admin = this.#kafka.admin();
    this.topic = `bench.bridges.${context.run}`;
    this.dlqTopic = `${this.topic}.dlq`;
  }

  /** Creates the run's topics and produces the N records every round reads. */
  async setUp(): Promise<void> {
    const { records, run } = this.#context;
    await this.#admin.connect();
    this.#topicsCreated = true;
    await this.#admin.createTopics({
      topics: [this.topic, this.dlqTopic].map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 1 })),
      waitForLeaders: true,
    });
    const producer = this.#kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const started = performance.now();
      for (let from = 0; from < records; from += PRODUCE_CHUNK) {
        if (interrupted.signal.aborted) throw new Error('interrupted while producing');
        const count = Math.min(PRODUCE_CHUNK, records - from);
        await producer.send({
          topic: this.topic,
          messages: Array.from({ length: count }, (_, k) => {
            const i = from + k;
            return { key: `user-${i % 1_000}`, value: emailSend(`kafka-${run}-${i}`, `user-${i % 1_000}`) };
          }),
        });
      }
      progress(
        `kafka: produced ${records} records to ${this.topic} (${PARTITIONS} partitions) in ${Math.round(performance.now() - started)} ms`,
      );
    } finally {
      await producer.disconnect();
    }
  }

  /** A bare kafkajs consumer in a group of its own: eachBatch, JSON.parse of every record. */
  async baseline(roundIndex: number): Promise<WindowFigures> {
    const { records, run, timeoutMs } = this.#context;
    const groupId = `bench-bridges-${run}-bare-${roundIndex}`;
    this.#groups.push(groupId);
    const window = new Window(records);
    let parsedKeys = 0;
    // The same fetch settings as the bridge's, so only what happens to a record differs.
    const consumer = this.#kafka.consumer({ groupId, maxWaitTimeInMs: KAFKA_INGEST_DEFAULTS.maxWaitTimeInMs });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await consumer.run({
        partitionsConsumedConcurrently: PARTITIONS,
        eachBatch: ({ batch }) => {
          window.first();
          for (const message of batch.messages) {
            const body = JSON.parse(message.value?.toString() ?? 'null') as { idempotencyKey?: unknown } | null;
            if (typeof body?.idempotencyKey === 'string') parsedKeys++;
          }
          window.finished(batch.messages.length);
          return Promise.resolve();
        },
      });
      await waitUntil(() => window.complete, {
        what: `the bare consumer to read ${records} records`,
        timeoutMs,
        report: () => `bare consumer: ${window.count} of ${records} read`,
      });
    } finally {
      await consumer.disconnect();
    }
    if (parsedKeys !== records) throw new Error(`the bare consumer parsed ${parsedKeys} sends of ${records}`);
    return window.figures();
  }

  /** The real Kafka ingest bridge, in a group of its own, until all N records are durably accepted. */
  async ours(roundIndex: number, profile?: (during: () => Promise<void>) => Promise<void>): Promise<KafkaOurFigures> {
    const { records, run, timeoutMs, pool, system, bridges, brokers } = this.#context;
    await truncate(pool);
    const groupId = `bench-bridges-${run}-ours-${roundIndex}`;
    this.#groups.push(groupId);
    const ours = ourIntake(pool, records);
    const connections: BridgeConnection[] = [];
    const connector = kafkaIngestConnector({
      brokers,
      intake: ours.intake,
      logger: this.#context.logger,
      topic: this.topic,
      dlqTopic: this.dlqTopic,
      groupId,
      clientId: `bench-bridges-${run}-ours-${roundIndex}`,
      clock: systemClock(),
      ...KAFKA_INGEST_SETTINGS,
    });
    const measure = async () => {
      const ref = spawnBridge(system, bridges, `kafka-ingest-${roundIndex}`, async (fail) => {
        const connection = await connector(fail);
        connections.push(connection);
        return connection;
      });
      try {
        await ours.accepted(`kafka ingest round ${roundIndex + 1}`, timeoutMs);
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
    if (ours.window.count !== records || stored !== records || stats.accepted !== records || stats.invalid !== 0)
      throw new Error(
        `kafka ingest: ${ours.window.count} routed, ${stored} stored, stats ${JSON.stringify(stats)}; expected ${records}`,
      );
    if (connections.length !== 1) progress(`kafka ingest reconnected: ${connections.length} connections opened`);
    return { ...ours.window.figures(), ...batching(ours.store.acceptStats()) };
  }

  /** Deletes the run's topics and groups (after every consumer of them stopped). */
  async tearDown(): Promise<boolean> {
    return cleanUp([
      [
        'deleting the kafka topics',
        async () => {
          if (!this.#topicsCreated) return;
          const existing = new Set(await this.#admin.listTopics());
          const ours = [this.topic, this.dlqTopic].filter((topic) => existing.has(topic));
          if (ours.length > 0) await this.#admin.deleteTopics({ topics: ours });
        },
      ],
      [
        'deleting the kafka groups',
        async () => {
          if (this.#groups.length === 0) return;
          const known = new Set((await this.#admin.listGroups()).groups.map((group) => group.groupId));
          const ours = this.#groups.filter((group) => known.has(group));
          if (ours.length > 0) await this.#admin.deleteGroups(ours);
        },
      ],
      ['disconnecting the kafka admin client', () => this.#admin.disconnect()],
    ]);
  }
}
