// npm run bench:bridges [-- --quick] [-- --cpu-prof-dir=DIR]: how fast the broker bridges durably accept
// sends, each figure beside a bare client reading the same data in the same run — the Kafka ingest bridge
// against a bare kafkajs consumer of the same topic, the rabbit-ingest bridge against a bare amqplib
// consumer of the same queue. Rounds alternate (baseline, ours); medians and ratios are reported. With
// --cpu-prof-dir our side's windows are profiled in-process and summarised.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { sql } from 'slonik';
import type { ActorBehavior } from '../runtime/kernel/ActorRef.ts';
import { ActorSystem } from '../runtime/kernel/ActorSystem.ts';
import { migrate } from '../runtime/persistence/migrate.ts';
import { type Database, openDatabase } from '../runtime/persistence/openDatabase.ts';
import { systemClock } from '../runtime/time/Clock.ts';
import {
  cleanUp,
  interrupted,
  machineLoad,
  median,
  progress,
  round,
  silentLogger,
  storeCeiling,
  type WindowFigures,
} from './bridges/common.ts';
import type { BenchContext } from './bridges/context.ts';
import { KafkaBench, type KafkaOurFigures } from './bridges/kafka.ts';
import { type ProfileSummary, WindowProfiler } from './bridges/profile.ts';
import { RabbitBench, type RabbitOurFigures } from './bridges/rabbit.ts';

const quick = process.argv.includes('--quick');
const RECORDS = quick ? 20_000 : 100_000;
const ROUNDS = quick ? 1 : 3;
const ADMIN_URL = process.env.SWITCHBOARD_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((broker) => broker.trim());
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const PROFILE_DIR = process.argv.find((arg) => arg.startsWith('--cpu-prof-dir='))?.slice('--cpu-prof-dir='.length);

const SUPERVISOR: ActorBehavior<null, never> = { kind: 'supervisor', init: () => null, receive: (state) => state };

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping after cleaning up`);
    interrupted.abort();
  });
}

// Warnings go to stderr as progress lines too. kafkajs's request queue schedules a negative timeout
// when it is not throttled (throttledUntil -1); Node clamps it to 1 ms, so it is said once, not each time.
process.removeAllListeners('warning');
let negativeTimeouts = 0;
process.on('warning', (warning) => {
  if (warning.name === 'TimeoutNegativeWarning') {
    if (negativeTimeouts++ === 0)
      progress('note: kafkajs scheduled a negative timeout (its request queue when unthrottled); Node makes it 1 ms');
    return;
  }
  progress(`warning: ${warning.name}: ${warning.message}`);
});

type Side<O extends WindowFigures> = { baseline: WindowFigures[]; ours: O[]; ceiling: WindowFigures[] };

/** Medians of both sides (rate and CPU), the ratio of the rates, and every round. */
function summarise<O extends WindowFigures>(label: string, unit: string, side: Side<O>) {
  const ours = median(side.ours.map((w) => w.perSecond));
  const baseline = median(side.baseline.map((w) => w.perSecond));
  const result = {
    ours: round(ours),
    baseline: round(baseline),
    ratio: round(ours / Math.max(baseline, 1), 3),
    processCores: {
      ours: median(side.ours.map((w) => w.processCores)),
      baseline: median(side.baseline.map((w) => w.processCores)),
    },
    machineCores: {
      ours: median(side.ours.map((w) => w.machineCores)),
      baseline: median(side.baseline.map((w) => w.machineCores)),
    },
    /** The same intake and store with no broker in between (diagnostic: what bounds ours). */
    storeCeiling: round(median(side.ceiling.map((w) => w.perSecond))),
    oursOfStoreCeiling: round(ours / Math.max(median(side.ceiling.map((w) => w.perSecond)), 1), 3),
    rounds: side.baseline.map((baselineRound, i) => ({
      baseline: baselineRound,
      ours: side.ours[i],
      storeCeiling: side.ceiling[i],
    })),
  };
  progress(
    `${label}: ours ${result.ours} ${unit}/s, baseline ${result.baseline} ${unit}/s, ratio ${result.ratio} ` +
      `(medians of ${side.ours.length}; this process busy ${result.processCores.ours} vs ${result.processCores.baseline} cores, ` +
      `machine ${result.machineCores.ours} vs ${result.machineCores.baseline}); ` +
      `the store alone ${result.storeCeiling}/s, ours ${result.oursOfStoreCeiling} of it`,
  );
  return result;
}

const describe = (w: WindowFigures) =>
  `${w.perSecond}/s over ${w.seconds} s, this process ${w.processCores} cores, machine ${w.machineCores}`;

async function withDatabase<T>(run: (db: Database) => Promise<T>): Promise<T> {
  const name = `bench_bridges_${randomBytes(4).toString('hex')}`;
  const admin = await openDatabase({ databaseUrl: ADMIN_URL, dataDir: '/nonexistent', maximumPoolSize: 1 });
  await admin.pool.query(sql.unsafe`CREATE DATABASE ${sql.identifier([name])}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  let db: Database | undefined;
  try {
    // The service's own pool settings (openDatabase's defaults), so acceptance runs as it does in production.
    db = await openDatabase({ databaseUrl: url.toString(), dataDir: '/nonexistent' });
    await migrate(db.pool);
    progress(`database ${name} created and migrated`);
    return await run(db);
  } finally {
    await cleanUp([
      ['closing the bench database pool', () => db?.close()],
      [
        'dropping the bench database',
        () => admin.pool.query(sql.unsafe`DROP DATABASE ${sql.identifier([name])} WITH (FORCE)`),
      ],
      ['closing the admin pool', () => admin.close()],
    ]);
  }
}

const startedAt = performance.now();
const run = randomBytes(4).toString('hex');
progress(
  `${quick ? 'quick' : 'full'} run ${run}: ${RECORDS} sends per side per round, ${ROUNDS} round(s) alternating (baseline, ours)` +
    (PROFILE_DIR ? `; profiles of our windows in ${PROFILE_DIR}` : ''),
);
const coresBusyBeforeRun = await machineLoad(1_000);
progress(
  `before the run the machine kept ${coresBusyBeforeRun} cores busy` +
    (coresBusyBeforeRun > 0.3 ? ' (something else is running: the figures will be noisier than usual)' : ''),
);
if (PROFILE_DIR) await mkdir(PROFILE_DIR, { recursive: true });
const profiler = PROFILE_DIR ? new WindowProfiler(PROFILE_DIR) : undefined;
const profiles: Record<string, ProfileSummary> = {};
/** Profiles `during` (our side only) when asked to; keeps the first round's summary per bridge. */
const profiled = (name: string) =>
  profiler &&
  (async (during: () => Promise<void>) => {
    await profiler.start();
    try {
      await during();
    } finally {
      const summary = await profiler.stop(name);
      profiles[name] ??= summary;
      progress(`profile ${name}: ${summary.file}`);
      progress(
        `  by area: ${summary.areas.map(([area, share]) => `${area} ${Math.round(share * 1000) / 10}%`).join(', ')}`,
      );
      for (const [fn, share] of summary.functions.slice(0, 10)) progress(`  ${Math.round(share * 1000) / 10}% ${fn}`);
    }
  });

const figures = await withDatabase(async (db) => {
  const system = new ActorSystem({ clock: systemClock(), logger: silentLogger });
  const context: BenchContext = {
    run,
    records: RECORDS,
    timeoutMs: quick ? 120_000 : 600_000,
    pool: db.pool,
    system,
    bridges: system.spawn(system.root, 'bridges', SUPERVISOR),
    brokers: BROKERS,
    amqpUrl: AMQP_URL,
    logger: silentLogger,
  };
  const kafka = new KafkaBench(context);
  const rabbit = new RabbitBench(context);
  const kafkaSide: Side<KafkaOurFigures> = { baseline: [], ours: [], ceiling: [] };
  const rabbitSide: Side<RabbitOurFigures> = { baseline: [], ours: [], ceiling: [] };
  const ceiling = async (side: Side<WindowFigures>, label: string, i: number) => {
    const figures = await storeCeiling(db.pool, RECORDS, `ceiling-${run}-${label}-${i}`);
    side.ceiling.push(figures);
    progress(
      `${label} round ${i + 1}/${ROUNDS} store alone (same intake, no broker): ${describe(figures)}; ` +
        `${figures.transactions} transactions of ${figures.meanBatch} on average`,
    );
  };
  let clean: boolean;
  try {
    await kafka.setUp();
    for (let i = 0; i < ROUNDS; i++) {
      const baseline = await kafka.baseline(i);
      kafkaSide.baseline.push(baseline);
      progress(`kafka round ${i + 1}/${ROUNDS} bare kafkajs consumer: ${describe(baseline)}`);
      const ours = await kafka.ours(i, profiled(`kafka-ingest-round-${i + 1}`));
      kafkaSide.ours.push(ours);
      progress(
        `kafka round ${i + 1}/${ROUNDS} kafka ingest bridge: ${describe(ours)}; ${ours.transactions} transactions of ${ours.meanBatch} on average`,
      );
      await ceiling(kafkaSide, 'kafka', i);
    }
    await rabbit.setUp();
    for (let i = 0; i < ROUNDS; i++) {
      const baseline = await rabbit.baseline(i);
      rabbitSide.baseline.push(baseline);
      progress(`rabbitmq round ${i + 1}/${ROUNDS} bare amqplib consumer: ${describe(baseline)}`);
      const ours = await rabbit.ours(i, profiled(`rabbit-ingest-round-${i + 1}`));
      rabbitSide.ours.push(ours);
      progress(
        `rabbitmq round ${i + 1}/${ROUNDS} rabbit-ingest bridge: ${describe(ours)}; ${ours.transactions} transactions of ${ours.meanBatch} on average`,
      );
      await ceiling(rabbitSide, 'rabbitmq', i);
    }
  } finally {
    // The bridges stop first (they are members of the groups and consumers of the queues).
    clean = await cleanUp([
      ['shutting the actor system down', () => system.shutdown()],
      [
        'cleaning up kafka',
        async () => {
          if (!(await kafka.tearDown())) throw new Error('see above');
        },
      ],
      [
        'cleaning up rabbitmq',
        async () => {
          if (!(await rabbit.tearDown())) throw new Error('see above');
        },
      ],
    ]);
    profiler?.close();
    progress(clean ? 'topics, groups, queues and exchanges of the run deleted' : 'clean-up incomplete (see above)');
  }
  const rootEscalations = system.rootEscalations().length;
  return {
    kafka: summarise('kafka ingest vs bare kafkajs consumer', 'records', kafkaSide),
    kafkaBatching: {
      meanBatch: median(kafkaSide.ours.map((o) => o.meanBatch)),
      transactions: median(kafkaSide.ours.map((o) => o.transactions)),
    },
    rabbit: summarise('rabbit ingest vs bare amqplib consumer', 'messages', rabbitSide),
    rabbitBatching: {
      meanBatch: median(rabbitSide.ours.map((o) => o.meanBatch)),
      transactions: median(rabbitSide.ours.map((o) => o.transactions)),
    },
    rootEscalations,
    clean,
  };
});

progress(`done in ${round((performance.now() - startedAt) / 1000, 1)} s`);
console.log(
  JSON.stringify({
    benchmark: 'bridges',
    quick,
    coresBusyBeforeRun,
    sendsPerRound: RECORDS,
    rounds: ROUNDS,
    kafkaPartitions: 3,
    rabbitPrefetch: 256,
    kafkaRecordsPerSecond: figures.kafka,
    kafkaAcceptBatching: figures.kafkaBatching,
    rabbitMessagesPerSecond: figures.rabbit,
    rabbitAcceptBatching: figures.rabbitBatching,
    rootEscalations: figures.rootEscalations,
    cleanedUp: figures.clean,
    ...(PROFILE_DIR ? { profiles } : {}),
    goals: {
      kafkaRatioAtLeast0_5: figures.kafka.ratio >= 0.5,
      rabbitRatioAtLeast0_5: figures.rabbit.ratio >= 0.5,
    },
  }),
);
