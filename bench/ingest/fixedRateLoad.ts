// An open-loop load at a fixed rate: request i is due at start + i/rate whether or not earlier ones have
// been answered, and its latency is measured from when it was due (so a stalled server is not hidden by
// a client that politely waits: no coordinated omission). autocannon's overallRate is not used for this
// because it sends each connection's quota for the second back to back and then idles, which measures
// bursts at full speed rather than a steady half-peak load.
import http from 'node:http';

export type FixedRateOptions = {
  readonly port: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body of request `i`. */
  readonly body: (i: number) => Buffer;
  /** Requests per second. */
  readonly rate: number;
  /** Requests due in the first `warmupMs` are sent but not counted. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Most open keep-alive connections; requests due while all are busy wait (and that wait counts). */
  readonly connections: number;
};

export type FixedRateResult = {
  /** Requests per second asked for and achieved (answered 2xx per second of the measured window). */
  readonly rate: number;
  readonly achievedRate: number;
  readonly measured: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Milliseconds from when a request was due to when its whole response had arrived. */
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
};

const percentile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;

export async function fixedRateLoad(options: FixedRateOptions): Promise<FixedRateResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const interval = 1000 / options.rate;
  const total = Math.round(((options.warmupMs + options.durationMs) / 1000) * options.rate);
  const firstMeasured = Math.round((options.warmupMs / 1000) * options.rate);
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let settled = 0;
  let lastMeasuredAnswer = 0;

  const start = performance.now() + 5;
  await new Promise<void>((resolve) => {
    const done = () => {
      settled++;
      if (settled === total) resolve();
    };
    const fire = (i: number) => {
      const due = start + i * interval;
      const body = options.body(i);
      const request = http.request(
        {
          agent,
          host: '127.0.0.1',
          port: options.port,
          path: options.path,
          method: 'POST',
          headers: { ...options.headers, 'content-length': String(body.length) },
        },
        (response) => {
          response.resume();
          response.once('end', () => {
            const now = performance.now();
            if (i >= firstMeasured) {
              if (response.statusCode !== undefined && response.statusCode >= 200 && response.statusCode < 300) {
                latencies.push(now - due);
                lastMeasuredAnswer = now;
              } else non2xx++;
            }
            done();
          });
        },
      );
      request.setTimeout(30_000, () => request.destroy(new Error('no answer within 30 s')));
      request.once('error', () => {
        if (i >= firstMeasured) errors++;
        done();
      });
      request.end(body);
    };
    let next = 0;
    const tick = () => {
      const dueNow = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      while (next < dueNow) fire(next++);
      if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    setTimeout(tick, 5);
  });
  agent.destroy();

  const sorted = latencies.sort((a, b) => a - b);
  const measuredStart = start + firstMeasured * interval;
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    rate: options.rate,
    achievedRate: Math.round(
      sorted.length / ((Math.max(lastMeasuredAnswer, measuredStart + 1) - measuredStart) / 1000),
    ),
    measured: sorted.length,
    non2xx,
    errors,
    p50Ms: round(percentile(sorted, 0.5)),
    p90Ms: round(percentile(sorted, 0.9)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
  };
}
