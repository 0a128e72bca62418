// Parts 3 and 4 of bench:ingest: single POST /v1/messages against a bare hono POST handler — peak
// throughput with autocannon, then acknowledgement latency under an open-loop load at half that peak —
// both servers as child processes driven by the same load generator in this process.
import autocannon from 'autocannon';
import type { CpuUse } from './cpuUse.ts';
import { fixedRateLoad } from './fixedRateLoad.ts';
import { singleBodies, tokenPrefix, UNIQUE } from './fixtures.ts';
import type { IngestContext } from './ingestContext.ts';
import {
  alternate,
  averageBatch,
  deliveredShare,
  measureCpu,
  measureServiceWindow,
  type ServiceWindow,
  truncate,
  withServer,
} from './rounds.ts';
import { cpuMedian, describeCpu, median, ratioOf, round } from './summary.ts';

const headers = (apiKey: string) => ({ authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' });

/**
 * Closed-loop autocannon at `connections` for about `durationMs` (it stops on whole seconds). With
 * `unique`, every request's subject gets its own token, so content dedupe does not suppress repeats
 * (the service needs that; the bare handler ignores content, and rebuilding each request would make the
 * load generator, not the handler, the limit of its figure).
 */
async function peak(context: IngestContext, port: number, durationMs: number, unique: boolean) {
  const { settings } = context;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: settings.connections,
    duration: Math.max(1, Math.round(durationMs / 1000)),
    idReplacement: unique,
    requests: singleBodies.map((body) => ({
      method: 'POST' as const,
      path: '/v1/messages',
      headers: headers(settings.apiKey),
      body,
    })),
  });
  return {
    rate: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    bad: result.non2xx + result.errors,
  };
}

type Peak = Awaited<ReturnType<typeof peak>>;

/** 3. Single POST /v1/messages at full speed, against the bare hono handler with the same load. */
export async function measureHttpSingle(context: IngestContext) {
  const { db, settings, progress } = context;
  progress(
    `HTTP single: autocannon in this process, ${settings.connections} keep-alive connections, each server a ` +
      'fresh child process; each send to the service has content of its own (repeats would be suppressed by ' +
      'content dedupe), and delivery runs alongside',
  );
  const ours: Peak[] = [];
  const bare: Peak[] = [];
  const windows: ServiceWindow[] = [];
  const bareCpu: Array<CpuUse | null> = [];
  const measureOurs = async () => {
    await truncate(db);
    await withServer(context, 'service', async (server) => {
      await peak(context, server.port, settings.warmupMs.single, true);
      windows.push(
        await measureServiceWindow(db, server, async () => {
          ours.push(await peak(context, server.port, settings.windowMs.single, true));
        }),
      );
    });
  };
  const measureBare = () =>
    withServer(context, 'bare', async (server) => {
      await peak(context, server.port, settings.warmupMs.single, false);
      bareCpu.push(
        await measureCpu(db, server.pid, async () => {
          bare.push(await peak(context, server.port, settings.windowMs.single, false));
        }),
      );
    });
  for (let r = 0; r < settings.rounds; r++) {
    await alternate(r, measureOurs, measureBare);
    progress(
      `  round ${r + 1}: service ${round(ours.at(-1)?.rate ?? 0)}/s (average batch ` +
        `${averageBatch(windows.slice(-1))}), bare ${round(bare.at(-1)?.rate ?? 0)}/s`,
    );
  }
  await truncate(db);
  const rate = (rows: readonly Peak[]) => median(rows.map((row) => row.rate));
  const result = {
    ours: round(rate(ours)),
    bareHono: round(rate(bare)),
    ratio: ratioOf(rate(ours), rate(bare)),
    connections: settings.connections,
    averageBatch: averageBatch(windows),
    oursLatencyAtPeakMs: { p50: median(ours.map((r) => r.p50Ms)), p99: median(ours.map((r) => r.p99Ms)) },
    bareLatencyAtPeakMs: { p50: median(bare.map((r) => r.p50Ms)), p99: median(bare.map((r) => r.p99Ms)) },
    deliveredShareDuringWindow: deliveredShare(windows),
    bad: ours.reduce((n, r) => n + r.bad, 0) + bare.reduce((n, r) => n + r.bad, 0),
    cpuCores: { ours: cpuMedian(windows.map((w) => w.cpu)), bareHono: cpuMedian(bareCpu) },
  };
  progress(
    `HTTP single POST: ${result.ours}/s, bare hono handler ${result.bareHono}/s, ratio ${result.ratio} ` +
      `(writer's average batch ${result.averageBatch}; p50/p99 at peak ${result.oursLatencyAtPeakMs.p50}/` +
      `${result.oursLatencyAtPeakMs.p99} ms vs ${result.bareLatencyAtPeakMs.p50}/${result.bareLatencyAtPeakMs.p99} ms; ` +
      `delivery got through ${round(result.deliveredShareDuringWindow * 100, 1)}% of what was accepted; ` +
      `${result.bad} non-2xx or errors)`,
  );
  progress(
    `  CPU cores: ${describeCpu('service', result.cpuCores.ours, 'load generator')}; ` +
      describeCpu('bare', result.cpuCores.bareHono, 'load generator'),
  );
  if ((result.cpuCores.bareHono?.benchProcess ?? 0) >= 0.9) {
    progress('  note: the load generator used a whole core against the bare handler; its figure is a lower bound');
  }
  return result;
}

type Run = Awaited<ReturnType<typeof fixedRateLoad>>;

const summarize = (rows: readonly Run[]) => ({
  p50Ms: round(median(rows.map((row) => row.p50Ms)), 2),
  p90Ms: round(median(rows.map((row) => row.p90Ms)), 2),
  p99Ms: round(median(rows.map((row) => row.p99Ms)), 2),
  maxMs: round(median(rows.map((row) => row.maxMs)), 2),
  answeredPerSecond: median(rows.map((row) => row.achievedRate)),
  bad: rows.reduce((n, row) => n + row.non2xx + row.errors, 0),
});

/** 4. Acknowledgement latency at a fixed rate of half the service's peak; the bare handler at the same rate. */
export async function measureLatency(context: IngestContext, peakRate: number) {
  const { db, settings, progress } = context;
  const rate = Math.max(1, Math.round(peakRate / 2));
  progress(
    `latency: open-loop ${rate} req/s (half the service's peak) for both, up to ${settings.connections} ` +
      'connections, each latency counted from when its request was due; delivery runs alongside in the service',
  );
  const ours: Run[] = [];
  const bare: Run[] = [];
  const windows: ServiceWindow[] = [];
  const bareCpu: Array<CpuUse | null> = [];
  const load = (port: number, prefix = tokenPrefix()) =>
    fixedRateLoad({
      port,
      path: '/v1/messages',
      headers: headers(settings.apiKey),
      body: (i) => {
        const template = singleBodies[i % singleBodies.length] ?? '';
        return Buffer.from(template.replace(UNIQUE, `${prefix}-${i}`));
      },
      rate,
      warmupMs: settings.warmupMs.other,
      durationMs: settings.windowMs.latency,
      connections: settings.connections,
    });
  const measureOurs = async () => {
    await truncate(db);
    await withServer(context, 'service', async (server) => {
      windows.push(
        await measureServiceWindow(db, server, async () => {
          ours.push(await load(server.port));
        }),
      );
    });
  };
  const measureBare = () =>
    withServer(context, 'bare', async (server) => {
      bareCpu.push(
        await measureCpu(db, server.pid, async () => {
          bare.push(await load(server.port));
        }),
      );
    });
  for (let r = 0; r < settings.rounds; r++) {
    await alternate(r, measureOurs, measureBare);
    const last = ours.at(-1);
    progress(
      `  round ${r + 1}: service p50 ${last?.p50Ms} ms, p99 ${last?.p99Ms} ms (answered ${last?.achievedRate}/s); ` +
        `bare p50 ${bare.at(-1)?.p50Ms} ms, p99 ${bare.at(-1)?.p99Ms} ms`,
    );
  }
  await truncate(db);
  const oursSummary = summarize(ours);
  const bareSummary = summarize(bare);
  const result = {
    rate,
    ours: oursSummary,
    bareHono: bareSummary,
    p99Ratio: ratioOf(oursSummary.p99Ms, bareSummary.p99Ms),
    deliveredShareDuringWindow: deliveredShare(windows),
    cpuCores: { ours: cpuMedian(windows.map((w) => w.cpu)), bareHono: cpuMedian(bareCpu) },
  };
  progress(
    `latency at ${rate} req/s: service p50 ${oursSummary.p50Ms} ms, p99 ${oursSummary.p99Ms} ms (answered ` +
      `${oursSummary.answeredPerSecond}/s; delivery got through ${round(result.deliveredShareDuringWindow * 100, 1)}% ` +
      `of what was accepted); bare hono p50 ${bareSummary.p50Ms} ms, p99 ${bareSummary.p99Ms} ms`,
  );
  progress(
    `  CPU cores: ${describeCpu('service', result.cpuCores.ours, 'load generator')}; ` +
      describeCpu('bare', result.cpuCores.bareHono, 'load generator'),
  );
  return result;
}
