// The machinery of bench:ingest's paired rounds: sides run alternately on emptied tables, servers start
// fresh per measurement in child processes, and each measured window records what the service accepted,
// what it delivered meanwhile and where the CPU went.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'slonik';
import type { SendRequest } from '../../runtime/messages/sendRequest.ts';
import { type CpuUse, cpuUseSince, readCpu } from './cpuUse.ts';
import { sendsFrom } from './fixtures.ts';
import type { BenchDatabase, IngestContext } from './ingestContext.ts';
import { type ServerKind, type ServerProcess, startServer } from './serverProcess.ts';
import { round } from './summary.ts';

/** Runs `ours` first in even rounds and last in odd ones, so neither side always follows the other. */
export async function alternate(roundIndex: number, ours: () => Promise<void>, baselines: () => Promise<void>) {
  if (roundIndex % 2 === 0) {
    await ours();
    await baselines();
  } else {
    await baselines();
    await ours();
  }
}

/**
 * Every measurement starts on empty tables, so neither side writes into a bigger table than the other.
 * CASCADE empties whatever a later migration hangs off messages too.
 */
export async function truncate(db: BenchDatabase): Promise<void> {
  await db.pool.query(sql.unsafe`TRUNCATE messages, message_events, outbox, actor_snapshots CASCADE`);
}

/**
 * Runs `run` against a fresh server child with its own temporary data directory, then stops the child
 * (the service's delivery backlog goes with it, so it never spills into the next measurement).
 */
export async function withServer<T>(
  context: IngestContext,
  kind: ServerKind,
  run: (server: ServerProcess) => Promise<T>,
): Promise<T> {
  const { db, settings } = context;
  const dataDir = await mkdtemp(path.join(db.root, `${kind}-`));
  const server = await startServer({
    kind,
    env: { PORT: '0', DATABASE_URL: db.url, SWITCHBOARD_DATA_DIR: dataDir, SWITCHBOARD_API_KEYS: settings.apiKey },
    execArgv: kind === 'service' && settings.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`] : [],
    onProblem: context.progress,
  });
  try {
    return await run(server);
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Calls `write` with consecutive batches of `batchSize` sends, one at a time, until the time is up; rows/s. */
export async function sequentialBatches(
  write: (batch: SendRequest[]) => Promise<unknown>,
  batchSize: number,
  durationMs: number,
): Promise<number> {
  let rows = 0;
  const started = performance.now();
  while (performance.now() - started < durationMs) {
    await write(sendsFrom(rows, batchSize));
    rows += batchSize;
  }
  return rows / ((performance.now() - started) / 1000);
}

/** What the service accepted and delivered during one measured window, and the CPU it took. */
export type ServiceWindow = {
  readonly accepted: number;
  readonly batches: number;
  readonly delivered: number;
  readonly cpu: CpuUse | null;
};

export async function measureServiceWindow(
  db: BenchDatabase,
  server: ServerProcess,
  run: () => Promise<void>,
): Promise<ServiceWindow> {
  const before = await server.stats();
  const cpu = readCpu(server.pid, db.name);
  await run();
  const used = cpuUseSince(cpu, server.pid, db.name);
  const after = await server.stats();
  return {
    accepted: after.accept.items - before.accept.items,
    batches: after.accept.batches - before.accept.batches,
    delivered: after.delivery.sent - before.delivery.sent,
    cpu: used,
  };
}

/** The CPU a window took (for the bare handler, which has no figures of its own). */
export async function measureCpu(
  db: BenchDatabase,
  pid: number | undefined,
  run: () => Promise<void>,
): Promise<CpuUse | null> {
  const cpu = readCpu(pid, db.name);
  await run();
  return cpuUseSince(cpu, pid, db.name);
}

/** Sends per acceptance transaction over the windows. */
export const averageBatch = (windows: readonly ServiceWindow[]) =>
  round(
    windows.reduce((n, w) => n + w.accepted, 0) /
      Math.max(
        1,
        windows.reduce((n, w) => n + w.batches, 0),
      ),
    1,
  );

/** Of what was accepted during the windows, the share that delivery also got through meanwhile. */
export const deliveredShare = (windows: readonly ServiceWindow[]) =>
  round(
    windows.reduce((n, w) => n + w.delivered, 0) /
      Math.max(
        1,
        windows.reduce((n, w) => n + w.accepted, 0),
      ),
    3,
  );
