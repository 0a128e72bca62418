// npm run bench:ingest [-- --quick] [-- --cpu-prof-dir=DIR]: how fast sends are durably accepted, each
// figure beside a baseline taken in the same run — the in-process API and POST /v1/messages/batch against
// a bare unnest INSERT of the same rows at the same batch size, single POST /v1/messages against a bare
// hono handler, and acknowledgement latency at half the measured peak. With --cpu-prof-dir the service
// children run with --cpu-prof and leave their profiles there.
import { withBenchDatabase } from './benchDatabase.ts';
import { measureHttpBatch, measureInProcess } from './ingest/acceptanceVsInsert.ts';
import { foreignLoad } from './ingest/cpuUse.ts';
import type { IngestSettings } from './ingest/ingestContext.ts';
import { measureHttpSingle, measureLatency } from './ingest/singleVsBare.ts';
import { round } from './ingest/summary.ts';

const quick = process.argv.includes('--quick');

const settings: IngestSettings = {
  quick,
  rounds: 3,
  windowMs: quick
    ? { inProcess: 600, batch: 1_000, single: 1_000, latency: 1_000 }
    : { inProcess: 4_000, batch: 6_000, single: 8_000, latency: 10_000 },
  warmupMs: quick ? { single: 1_000, other: 400 } : { single: 2_000, other: 1_500 },
  inProcessConcurrency: 2_000,
  batchSizes: [500, 750, 1_000],
  batchConcurrency: 4,
  connections: 64,
  tenant: 'default',
  apiKey: 'bench-ingest-api-key-00000',
  profileDir: process.argv.find((arg) => arg.startsWith('--cpu-prof-dir='))?.slice('--cpu-prof-dir='.length),
};

const progress = (line: string) => process.stderr.write(`[bench:ingest] ${line}\n`);

const startedAt = performance.now();
progress(
  `${quick ? 'quick' : 'full'} run: ${settings.rounds} paired rounds per figure (sides alternate which goes first), ` +
    `medians; windows ${JSON.stringify(settings.windowMs)} ms` +
    (settings.profileDir ? `; service CPU profiles in ${settings.profileDir}` : ''),
);
const before = await foreignLoad(1_000);
if (before !== null) {
  progress(
    `before the run, other processes kept ${before.machine} of ${before.machineCores} cores busy` +
      (before.machine > 0.2 ? ' (something else is running: the figures will be noisier than usual)' : ''),
  );
}
const figures = await withBenchDatabase('bench_ingest', async (db) => {
  const context = { settings, db, progress };
  const inProcess = await measureInProcess(context);
  const httpBatch = await measureHttpBatch(context);
  const httpSingle = await measureHttpSingle(context);
  const latency = await measureLatency(context, httpSingle.ours);
  return { inProcess, httpBatch, httpSingle, latency };
});
const otherLoad = Math.max(
  0,
  ...[
    figures.inProcess.cpuCores.ours,
    figures.inProcess.cpuCores.rawInsert,
    figures.httpBatch.cpuCores.ours,
    figures.httpBatch.cpuCores.rawInsert,
    figures.httpSingle.cpuCores.ours,
    figures.httpSingle.cpuCores.bareHono,
    figures.latency.cpuCores.ours,
    figures.latency.cpuCores.bareHono,
  ].map((cpu) => cpu?.other ?? 0),
);
if (otherLoad > 0.3) {
  progress(
    `warning: other processes took up to ${otherLoad} cores (median of a part's windows) during the run; ` +
      'the figures, ratios included, are disturbed — run again on a quiet machine',
  );
}
progress(`done in ${round((performance.now() - startedAt) / 1000, 1)} s`);
console.log(
  JSON.stringify({
    benchmark: 'ingest',
    quick,
    coresBusyBeforeRun: before?.machine ?? null,
    otherLoadCores: otherLoad,
    inProcessAcceptPerSecond: figures.inProcess,
    httpBatchAcceptPerSecond: figures.httpBatch,
    httpSinglePerSecond: figures.httpSingle,
    latencyAtHalfPeak: figures.latency,
    goals: {
      inProcessAcceptAtLeast0_6OfRawInsert: figures.inProcess.ratio >= 0.6,
      httpBatchAcceptAtLeast0_6OfRawInsert: figures.httpBatch.ratio >= 0.6,
      httpSingleAtLeast0_5OfBareHono: figures.httpSingle.ratio >= 0.5,
      p99Under20msAtHalfPeak: figures.latency.ours.p99Ms < 20,
    },
  }),
);
