// Parts 1 and 2 of bench:ingest: durable acceptance — through the in-process API and through
// POST /v1/messages/batch — against a bare unnest INSERT of the same rows at the batch size the
// service's group-commit writer actually used.
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { acceptBatch } from '../../runtime/messages/acceptBatch.ts';
import type { MessageStore } from '../../runtime/messages/MessageStore.ts';
import type { SendRequest } from '../../runtime/messages/sendRequest.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { batchLoad } from './batchLoad.ts';
import { type CpuUse, cpuUseSince, readCpu } from './cpuUse.ts';
import { batchBodies, parsedSends, UNIQUE } from './fixtures.ts';
import type { IngestContext } from './ingestContext.ts';
import { rawInsert } from './rawInsert.ts';
import {
  alternate,
  averageBatch,
  deliveredShare,
  measureServiceWindow,
  type ServiceWindow,
  sequentialBatches,
  truncate,
  withServer,
} from './rounds.ts';
import { cpuMedian, describeCpu, median, ratioOf, round } from './summary.ts';

/** Many concurrent callers of accept(), each awaiting its commit before it sends the next; accepted/s. */
async function acceptLoad(messages: MessageStore, tenant: string, concurrency: number, durationMs: number) {
  let accepted = 0;
  let next = 0;
  const started = performance.now();
  const caller = async () => {
    while (performance.now() - started < durationMs) {
      const result = await messages.accept(tenant, parsedSends[next++ % parsedSends.length] as SendRequest);
      if (result.created) accepted++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return accepted / ((performance.now() - started) / 1000);
}

/** 1. accept() through the in-process API, against the bare INSERT and against acceptBatch() called directly. */
export async function measureInProcess(context: IngestContext) {
  const { db, settings, progress } = context;
  const { tenant, inProcessConcurrency: concurrency } = settings;
  progress(
    `in-process: ${concurrency} concurrent accept() callers; accept() only writes (it is the HTTP routes that hand ` +
      'messages to delivery), so no delivery runs alongside in this part',
  );
  const dataDir = await mkdtemp(path.join(db.root, 'in-process-'));
  const service = await Switchboard.start({
    config: loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: settings.apiKey,
    }),
    logger: createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk: Buffer, _encoding, callback) {
          for (const line of chunk.toString('utf8').split('\n')) if (line !== '') progress(`service: ${line}`);
          callback();
        },
      }),
    }),
  });
  const ours: number[] = [];
  const raw: number[] = [];
  const direct: number[] = [];
  const oursCpu: Array<CpuUse | null> = [];
  const rawCpu: Array<CpuUse | null> = [];
  // Round 1 runs accept() first, so the baseline always knows the writer's batch size.
  let items = 0;
  let batches = 0;
  const batchSize = () => Math.max(1, Math.round(items / batches));
  try {
    await acceptLoad(service.messages, tenant, concurrency, settings.warmupMs.other);
    await truncate(db);
    for (let r = 0; r < settings.rounds; r++) {
      await alternate(
        r,
        async () => {
          const before = service.messages.acceptStats();
          const cpu = readCpu(undefined, db.name);
          ours.push(await acceptLoad(service.messages, tenant, concurrency, settings.windowMs.inProcess));
          oursCpu.push(cpuUseSince(cpu, undefined, db.name));
          const after = service.messages.acceptStats();
          items += after.items - before.items;
          batches += after.batches - before.batches;
          await truncate(db);
        },
        async () => {
          const size = batchSize();
          const cpu = readCpu(undefined, db.name);
          raw.push(
            await sequentialBatches((batch) => rawInsert(db.pool, tenant, batch), size, settings.windowMs.inProcess),
          );
          rawCpu.push(cpuUseSince(cpu, undefined, db.name));
          await truncate(db);
          direct.push(
            await sequentialBatches(
              (batch) =>
                acceptBatch(
                  db.pool,
                  batch.map((request) => ({ tenant, request })),
                ),
              size,
              settings.windowMs.inProcess,
            ),
          );
          await truncate(db);
        },
      );
    }
    const result = {
      ours: round(median(ours)),
      rawInsert: round(median(raw)),
      ratio: ratioOf(median(ours), median(raw)),
      acceptBatchDirect: round(median(direct)),
      ratioToAcceptBatchDirect: ratioOf(median(ours), median(direct)),
      averageBatch: round(items / batches, 1),
      largestBatch: service.messages.acceptStats().largestBatch,
      concurrency,
      cpuCores: { ours: cpuMedian(oursCpu), rawInsert: cpuMedian(rawCpu) },
    };
    progress(
      `in-process accept(): ${result.ours}/s, raw unnest INSERT ${result.rawInsert}/s, ratio ${result.ratio} ` +
        `(average batch ${result.averageBatch}, largest ${result.largestBatch}; acceptBatch() called directly ` +
        `${result.acceptBatchDirect}/s, ratio ${result.ratioToAcceptBatchDirect})`,
    );
    progress(
      `  CPU cores: ${describeCpu('accept()', result.cpuCores.ours, 'bench process (service and callers)')}; ` +
        describeCpu('raw INSERT', result.cpuCores.rawInsert, 'bench process'),
    );
    return result;
  } finally {
    await service.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** 2. POST /v1/messages/batch, against the bare INSERT at the batch size the service's writer used. */
export async function measureHttpBatch(context: IngestContext) {
  const { db, settings, progress } = context;
  progress(
    `HTTP batch: ${settings.batchConcurrency} concurrent clients posting batches of ${settings.batchSizes.join('/')} ` +
      'messages to a service child; delivery runs alongside (each accepted message goes through its recipient ' +
      'actor to the dev outbox in the data dir), on the same cores',
  );
  const bodies = batchBodies(settings.batchSizes);
  const ours: number[] = [];
  const raw: number[] = [];
  const windows: ServiceWindow[] = [];
  const rawCpu: Array<CpuUse | null> = [];
  let largest = 0;
  let failures = 0;
  let pushedBack = 0;
  const pushedBackAfterMs: Array<number | null> = [];
  const elapsedMs: number[] = [];
  for (let r = 0; r < settings.rounds; r++) {
    await alternate(
      r,
      async () => {
        await truncate(db);
        await withServer(context, 'service', async (server) => {
          const load = (durationMs: number) =>
            batchLoad({
              url: `http://127.0.0.1:${server.port}/v1/messages/batch`,
              apiKey: settings.apiKey,
              bodies,
              unique: UNIQUE,
              concurrency: settings.batchConcurrency,
              durationMs,
            });
          const warmup = await load(settings.warmupMs.other);
          if (warmup.pushedBackAfterMs !== null) throw new Error('the service pushed back during the warm-up');
          let rate = 0;
          let measured: Awaited<ReturnType<typeof load>> | undefined;
          const window = await measureServiceWindow(db, server, async () => {
            measured = await load(settings.windowMs.batch);
            rate = measured.itemsPerSecond;
          });
          if (measured === undefined) throw new Error('the batch load did not run');
          failures += measured.failures;
          pushedBack += measured.pushedBack;
          pushedBackAfterMs.push(measured.pushedBackAfterMs);
          elapsedMs.push(measured.elapsedMs);
          windows.push(window);
          ours.push(rate);
          largest = Math.max(largest, (await server.stats()).accept.largestBatch);
          const backlogFull =
            measured.pushedBackAfterMs === null
              ? ''
              : `; pushed back (429, channel backlog over its limit) after ${round(measured.pushedBackAfterMs / 1000, 1)} s of the window, which ended there`;
          progress(
            `  round ${r + 1}: ${round(rate)} accepted/s over ${round(measured.elapsedMs / 1000, 1)} s; delivered ` +
              `${window.delivered} of the ${window.accepted} accepted meanwhile${backlogFull}`,
          );
        });
      },
      async () => {
        await truncate(db);
        const size = windows.length > 0 ? Math.round(averageBatch(windows)) : Math.max(...settings.batchSizes);
        const cpu = readCpu(undefined, db.name);
        raw.push(
          await sequentialBatches((batch) => rawInsert(db.pool, settings.tenant, batch), size, settings.windowMs.batch),
        );
        rawCpu.push(cpuUseSince(cpu, undefined, db.name));
      },
    );
  }
  await truncate(db);
  const result = {
    ours: round(median(ours)),
    rawInsert: round(median(raw)),
    ratio: ratioOf(median(ours), median(raw)),
    averageBatch: averageBatch(windows),
    largestBatch: largest,
    concurrentRequests: settings.batchConcurrency,
    deliveredShareDuringWindow: deliveredShare(windows),
    /** Seconds each round's window lasted: the set window, or up to the first push-back. */
    windowSeconds: elapsedMs.map((ms) => round(ms / 1000, 2)),
    /** Seconds into each round's window when the service first answered 429 (null: never). */
    pushedBackAfterSeconds: pushedBackAfterMs.map((ms) => (ms === null ? null : round(ms / 1000, 2))),
    pushedBackItems: pushedBack,
    failures,
    cpuCores: { ours: cpuMedian(windows.map((w) => w.cpu)), rawInsert: cpuMedian(rawCpu) },
  };
  progress(
    `HTTP batch: ${result.ours} accepted/s, raw unnest INSERT ${result.rawInsert}/s, ratio ${result.ratio} ` +
      `(writer's average batch ${result.averageBatch}, largest ${result.largestBatch}; delivery got through ` +
      `${round(result.deliveredShareDuringWindow * 100, 1)}% of what was accepted; ${failures} items failed)`,
  );
  const backlogRounds = pushedBackAfterMs.filter((ms) => ms !== null).length;
  if (backlogRounds > 0) {
    progress(
      `  backpressure: in ${backlogRounds} of ${settings.rounds} rounds the email channel's durable backlog ` +
        '(accepted, not yet delivered) passed its limit (SWITCHBOARD_CHANNEL_BACKLOG_LIMIT) and items were answered ' +
        '429; those rounds were measured up to that point. Past it, acceptance can only go as fast as delivery',
    );
  }
  progress(
    `  CPU cores: ${describeCpu('service', result.cpuCores.ours, 'load generator')}; ` +
      describeCpu('raw INSERT', result.cpuCores.rawInsert, 'bench process'),
  );
  return result;
}
