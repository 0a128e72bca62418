// npm run bench:kernel [-- --quick]: the cost of our actor layer, each figure beside a baseline taken
// in the same run — bare nact throughput, asks, spawns, memory per actor, activation with state from
// PostgreSQL, a child of a huge parent, and /ops/actors with many live entities.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as nact from 'nact';
import { createPool, type DatabasePool, sql } from 'slonik';
import type { ActorBehavior, ReplyTo } from '../runtime/kernel/ActorRef.ts';
import { ActorSystem } from '../runtime/kernel/ActorSystem.ts';
import { EntityRegistry } from '../runtime/kernel/EntityRegistry.ts';
import { inspect } from '../runtime/kernel/introspect.ts';
import { createLogger } from '../runtime/logging/createLogger.ts';
import { migrate } from '../runtime/persistence/migrate.ts';
import { SnapshotStore } from '../runtime/persistence/SnapshotStore.ts';
import { systemClock } from '../runtime/time/Clock.ts';
import { loadConfig } from '../runtime/config/loadConfig.ts';
import { Switchboard } from '../runtime/service/Switchboard.ts';

const quick = process.argv.includes('--quick');
const N = quick ? 100_000 : 500_000;
const ASKS = quick ? 20_000 : 100_000;
const SPAWNS = quick ? 20_000 : 100_000;
const MEMORY_ACTORS = quick ? 20_000 : 100_000;
const ACTIVATIONS = quick ? 10_000 : 50_000;
const BIG_PARENT = 100_000;
const ROUNDS = quick ? 3 : 5;
const ADMIN_URL = process.env.SWITCHBOARD_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const progress = (line: string) => process.stderr.write(`[bench:kernel] ${line}\n`);
const silent = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench:kernel does)');

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Runs `once` ROUNDS times alternating with the baseline's rounds; returns the medians. */
async function paired(label: string, ours: () => Promise<number>, baseline: () => Promise<number>) {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    b.push(await baseline());
    a.push(await ours());
  }
  const result = { ours: round(median(a)), baseline: round(median(b)), ratio: round(median(a) / median(b), 3) };
  progress(`${label}: ours ${result.ours}/s, baseline ${result.baseline}/s, ratio ${result.ratio}`);
  return result;
}

function newSystem(): ActorSystem {
  return new ActorSystem({ clock: systemClock(), logger: silent });
}

type CountMessage = { type: 'add'; n: number } | { type: 'get'; replyTo: ReplyTo<number> };
const counter: ActorBehavior<number, CountMessage> = {
  kind: 'counter',
  init: () => 0,
  receive(state, message) {
    if (message.type === 'get') {
      message.replyTo.reply(state);
      return state;
    }
    return state + message.n;
  },
};

type BareMessage = { n: number } | { replyTo: nact.Ref<number> };
const bareCounter = (state: number, message: BareMessage) => {
  if ('replyTo' in message) {
    nact.dispatch(message.replyTo, state);
    return state;
  }
  return state + message.n;
};

async function oursThroughput(messages: number): Promise<number> {
  const system = newSystem();
  const ref = system.spawn(system.root, 'counter', counter);
  const started = performance.now();
  for (let i = 0; i < messages; i++) system.dispatch(ref, { type: 'add', n: 1 });
  await system.ask(ref, (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 600_000);
  const rate = messages / ((performance.now() - started) / 1000);
  await system.shutdown();
  return rate;
}

async function bareThroughput(messages: number): Promise<number> {
  const system = nact.start();
  const ref = nact.spawn(system, bareCounter, 'counter', { initialState: 0 });
  const started = performance.now();
  for (let i = 0; i < messages; i++) nact.dispatch(ref, { n: 1 });
  await nact.query(ref, (replyTo: nact.Ref<number>) => ({ replyTo }), 600_000);
  const rate = messages / ((performance.now() - started) / 1000);
  nact.stop(system);
  return rate;
}

async function oursAsks(): Promise<number> {
  const system = newSystem();
  const ref = system.spawn(system.root, 'counter', counter);
  const started = performance.now();
  for (let i = 0; i < ASKS; i++)
    await system.ask(ref, (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 10_000);
  const rate = ASKS / ((performance.now() - started) / 1000);
  await system.shutdown();
  return rate;
}

async function bareAsks(): Promise<number> {
  const system = nact.start();
  const ref = nact.spawn(system, bareCounter, 'counter', { initialState: 0 });
  const started = performance.now();
  for (let i = 0; i < ASKS; i++) await nact.query(ref, (replyTo: nact.Ref<number>) => ({ replyTo }), 10_000);
  const rate = ASKS / ((performance.now() - started) / 1000);
  nact.stop(system);
  return rate;
}

async function oursSpawns(): Promise<number> {
  const system = newSystem();
  const parent = system.spawn(system.root, 'parent', counter);
  const started = performance.now();
  for (let i = 0; i < SPAWNS; i++) system.spawn(parent, `c-${i}`, counter, { eager: false });
  const rate = SPAWNS / ((performance.now() - started) / 1000);
  await system.shutdown();
  return rate;
}

function bareSpawns(): Promise<number> {
  const system = nact.start();
  const parent = nact.spawn(system, bareCounter, 'parent', { initialState: 0 });
  const started = performance.now();
  for (let i = 0; i < SPAWNS; i++) nact.spawn(parent, bareCounter, `c-${i}`, { initialState: 0 });
  const rate = SPAWNS / ((performance.now() - started) / 1000);
  nact.stop(system);
  return Promise.resolve(rate);
}

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

/** Heap per idle live entity (ours, through the registry) and per bare nact actor, and after passivation. */
async function memory() {
  const bareSystem = nact.start();
  const bareParent = nact.spawn(bareSystem, bareCounter, 'parent', { initialState: 0 });
  const bareBefore = await settledHeap();
  for (let i = 0; i < MEMORY_ACTORS; i++) nact.spawn(bareParent, bareCounter, `user-${i}`, { initialState: 0 });
  const bareBytes = ((await settledHeap()) - bareBefore) / MEMORY_ACTORS;
  nact.stop(bareSystem);

  const system = newSystem();
  const group = system.spawn(system.root, 'recipients', counter);
  // Passivation flushes into a counter, not a map, so nothing of the entities stays on this heap.
  let flushed = 0;
  const registry = new EntityRegistry<number, CountMessage>({
    system,
    parent: group,
    shards: 16,
    prefix: 'r',
    idleMs: 3_600_000,
    behavior: { ...counter, onStop: () => void flushed++ },
  });
  const before = await settledHeap();
  for (let i = 0; i < MEMORY_ACTORS; i++) registry.tell(`user-${i}`, { type: 'add', n: 1 });
  while (
    system.counts().find((row) => row.kind === 'counter' && row.status === 'running')?.count !==
    MEMORY_ACTORS + 1
  ) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  const liveBytes = ((await settledHeap()) - before) / MEMORY_ACTORS;
  await registry.close();
  if (flushed !== MEMORY_ACTORS) throw new Error(`passivation flushed ${flushed} of ${MEMORY_ACTORS}`);
  const passivatedBytes = ((await settledHeap()) - before) / MEMORY_ACTORS;
  await system.shutdown();
  const result = { live: round(liveBytes), bareNact: round(bareBytes), passivated: round(passivatedBytes) };
  progress(
    `heap per idle live actor ${result.live} B (bare nact actor ${result.bareNact} B), per passivated ${result.passivated} B`,
  );
  return result;
}

/** Activations that load state from PostgreSQL, against the snapshot store loading the same keys bare. */
async function activation(pool: DatabasePool) {
  const writer = new SnapshotStore(pool, { currentVersion: 1 });
  for (let i = 0; i < ACTIVATIONS; i++) void writer.save(`bench:user-${i}`, 1, { n: i });
  await writer.close();

  const bare = async () => {
    const store = new SnapshotStore(pool, { currentVersion: 1 });
    const started = performance.now();
    await Promise.all(Array.from({ length: ACTIVATIONS }, (_, i) => store.load(`bench:user-${i}`)));
    const rate = ACTIVATIONS / ((performance.now() - started) / 1000);
    await store.close();
    return rate;
  };
  const ours = async () => {
    const store = new SnapshotStore(pool, { currentVersion: 1 });
    const system = newSystem();
    const group = system.spawn(system.root, 'recipients', counter);
    const holder: { registry?: EntityRegistry<number, CountMessage> } = {};
    const registry = new EntityRegistry<number, CountMessage>({
      system,
      parent: group,
      shards: 16,
      prefix: 'r',
      idleMs: 3_600_000,
      behavior: {
        ...counter,
        init: async (context) => {
          const snapshot = await store.load(`bench:${holder.registry?.keyOf(context) ?? ''}`);
          return (snapshot?.state as { n: number } | undefined)?.n ?? 0;
        },
      },
    });
    holder.registry = registry;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: ACTIVATIONS }, (_, i) =>
        registry.ask(`user-${i}`, (replyTo: ReplyTo<number>) => ({ type: 'get' as const, replyTo }), 120_000),
      ),
    );
    const rate = ACTIVATIONS / ((performance.now() - started) / 1000);
    await system.shutdown();
    await store.close();
    return rate;
  };
  return paired('activations with state from PostgreSQL', ours, bare);
}

/** Messages to a child of a parent with 100k children, against a child of a parent with 10. */
async function bigParent() {
  const system = newSystem();
  const big = system.spawn(system.root, 'big', counter);
  const small = system.spawn(system.root, 'small', counter);
  for (let i = 0; i < BIG_PARENT; i++) system.spawn(big, `c-${i}`, counter, { eager: false });
  for (let i = 0; i < 10; i++) system.spawn(small, `c-${i}`, counter, { eager: false });
  const bigChild = system.lookup('/switchboard/big/c-500');
  const smallChild = system.lookup('/switchboard/small/c-5');
  if (bigChild === undefined || smallChild === undefined) throw new Error('children missing');
  const rate = async (target: typeof bigChild) => {
    const started = performance.now();
    for (let i = 0; i < N / 5; i++) system.dispatch(target, { type: 'add', n: 1 } as never);
    await system.ask(target, (replyTo: ReplyTo<number>) => ({ type: 'get', replyTo }) as never, 600_000);
    return N / 5 / ((performance.now() - started) / 1000);
  };
  const result = await paired(
    'child of a 100k-child parent (baseline: of a 10-child parent)',
    () => rate(bigChild),
    () => rate(smallChild),
  );
  await system.shutdown();
  return result;
}

/** /ops/actors (depth 3) built over 100k live entities, against the same view over 10. */
async function introspection() {
  const build = async (entities: number) => {
    const system = newSystem();
    const group = system.spawn(system.root, 'recipients', counter);
    const registry = new EntityRegistry<number, CountMessage>({
      system,
      parent: group,
      shards: 16,
      prefix: 'r',
      idleMs: 3_600_000,
      behavior: counter,
    });
    for (let i = 0; i < entities; i++) registry.tell(`user-${i}`, { type: 'add', n: 1 });
    while ((system.counts().find((r) => r.status === 'running' && r.kind === 'counter')?.count ?? 0) < entities + 1) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      JSON.stringify(inspect(system, { depth: 3, limit: 100 }));
      times.push(performance.now() - started);
    }
    await system.shutdown();
    return median(times);
  };
  const small = await build(10);
  const large = await build(BIG_PARENT);
  const result = {
    msWith100k: round(large, 3),
    msWith10: round(small, 3),
    ratio: round(large / Math.max(small, 0.001), 2),
  };
  progress(`/ops/actors view: ${result.msWith100k} ms with 100k live entities, ${result.msWith10} ms with 10`);
  return result;
}

/** GET /ops/actors over HTTP on a running service: with 100k live recipients, against the same service with 10. */
async function opsOverHttp(databaseUrl: string) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'sb-bench-'));
  const token = 'bench-operator-token-000';
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: databaseUrl,
    SWITCHBOARD_DATA_DIR: dataDir,
    SWITCHBOARD_OPERATOR_TOKEN: token,
    SWITCHBOARD_API_KEYS: 'bench-api-key-0000000',
  });
  const service = await Switchboard.start({ config, logger: silent });
  const url = `http://127.0.0.1:${service.port}/ops/actors?depth=3`;
  const activate = async (count: number) => {
    for (let i = 0; i < count; i++)
      service.tree.recipients.tell(`default:user-${i}`, {
        type: 'inspect',
        replyTo: { reply: () => {}, fail: () => {} },
      });
    while (
      (service.tree.system.counts().find((r) => r.kind === 'recipient' && r.status === 'running')?.count ?? 0) < count
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const time = async () => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      await response.arrayBuffer();
      times.push(performance.now() - started);
    }
    return median(times);
  };
  try {
    await activate(10);
    const small = await time();
    await activate(BIG_PARENT);
    const large = await time();
    const result = { msWith100k: round(large, 2), msWith10: round(small, 2), ratio: round(large / small, 2) };
    progress(
      `GET /ops/actors over HTTP: ${result.msWith100k} ms with 100k live recipients, ${result.msWith10} ms with 10`,
    );
    return result;
  } finally {
    await service.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function withDatabase<T>(run: (pool: DatabasePool, url: string) => Promise<T>): Promise<T> {
  const name = `bench_kernel_${randomBytes(4).toString('hex')}`;
  const admin = await createPool(ADMIN_URL, { maximumPoolSize: 1 });
  await admin.query(sql.unsafe`CREATE DATABASE ${sql.identifier([name])}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = await createPool(url.toString(), { maximumPoolSize: 4 });
  try {
    await migrate(pool);
    return await run(pool, url.toString());
  } finally {
    await pool.end();
    await admin.query(sql.unsafe`DROP DATABASE ${sql.identifier([name])} WITH (FORCE)`);
    await admin.end();
  }
}

const startedAt = performance.now();
progress(`${quick ? 'quick' : 'full'} run: ${N} messages, ${ROUNDS} rounds per figure`);
const throughput = await paired(
  'messages through one actor',
  () => oursThroughput(N),
  () => bareThroughput(N),
);
const asks = await paired('ask round trips (baseline: nact query)', oursAsks, bareAsks);
const spawns = await paired('spawns', oursSpawns, bareSpawns);
const heap = await memory();
const activations = await withDatabase(activation);
const parents = await bigParent();
const ops = await introspection();
const opsHttp = await withDatabase((_pool, url) => opsOverHttp(url));
progress(`done in ${round((performance.now() - startedAt) / 1000, 1)} s`);
console.log(
  JSON.stringify({
    benchmark: 'kernel',
    quick,
    messagesPerSecond: throughput,
    asksPerSecond: asks,
    spawnsPerSecond: spawns,
    heapBytesPerActor: heap,
    activationsPerSecond: activations,
    bigParentRate: parents,
    opsActorsMs: ops,
    opsActorsHttpMs: opsHttp,
    goals: {
      throughputRatioAtLeast0_8: throughput.ratio >= 0.8,
      bigParentRatioAtLeast0_9: parents.ratio >= 0.9,
      idleLiveActorUnder2KB: heap.live < 2048,
      opsActorsUnder50msWith100k: opsHttp.msWith100k < 50,
    },
  }),
);
