// npm run bench:campaign [-- --quick] [-- --recipients=N] [-- --cpu-prof-dir=DIR]: a campaign to a
// 1,000,000-recipient NDJSON audience on a local S3 server (s3rver), unthrottled, through the real
// service (a child process, email to a sink provider that keeps nothing), against a baseline taken in the same run that
// streams the same object, parses the same lines into the same sends and inserts them with a bare
// slonik unnest INSERT. Figures: wall time and recipients/s until every send is accepted (the
// campaign's reading is done) and until every send is delivered, and the service's peak RSS.
// --quick uses 40,000 recipients. The last line is one JSON object.
import { createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { sql } from 'slonik';
import { campaignSend } from '../actors/campaign/CampaignActor.ts';
import { toDefinition, campaignRequestSchema } from '../actors/campaign/campaignDefinition.ts';
import { type AudienceItem, readAudience, START_OF_AUDIENCE } from '../actors/campaign/audience/readAudience.ts';
import { startS3Server } from '../test/support/s3Server.ts';
import { withBenchDatabase } from './benchDatabase.ts';
import { rawInsert } from './ingest/rawInsert.ts';
import { startServer } from './ingest/serverProcess.ts';
import { round } from './ingest/summary.ts';

const quick = process.argv.includes('--quick');
const recipientsArg = process.argv.find((arg) => arg.startsWith('--recipients='));
const RECIPIENTS = recipientsArg ? Number(recipientsArg.slice('--recipients='.length)) : quick ? 40_000 : 1_000_000;
const profileDir = process.argv.find((arg) => arg.startsWith('--cpu-prof-dir='))?.slice('--cpu-prof-dir='.length);
// The service runs with V8's old space capped as a 512 MB container would run it (V8 otherwise grows
// its heap far past the live data before collecting); --max-old-space-size=0 leaves V8's default.
const heapArg = process.argv.find((arg) => arg.startsWith('--max-old-space-size=')) ?? '--max-old-space-size=384';
const heapFlag = heapArg === '--max-old-space-size=0' ? [] : [heapArg];
const BUCKET = 'bench';
const KEY = 'audience.ndjson';
const API_KEY = 'bench-campaign-api-key-000';
const SLICE = 1_000;
const GOALS = { ratio: 0.5, peakRssMb: 512 };

const progress = (line: string) => process.stderr.write(`[bench:campaign] ${line}\n`);

const campaignBody = {
  id: 'bench',
  name: 'Benchmark',
  channel: 'email',
  content: { subject: 'Spring sale', text: 'Everything must go.' },
  audience: `s3://${BUCKET}/${KEY}`,
  start: true,
} as const;

/** Writes the NDJSON audience to a file (no need to hold a million lines in memory). */
async function writeAudience(file: string, count: number): Promise<number> {
  const out = createWriteStream(file);
  for (let i = 0; i < count; i++) {
    const line = `${JSON.stringify({ id: `user-${i}`, email: `user-${i}@example.com`, vars: { first: `U${i}` } })}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return (await stat(file)).size;
}

/** Peak and current resident set size of a process, in MB, from /proc. */
async function memoryOf(pid: number): Promise<{ peakMb: number; nowMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { peakMb: round(kb('VmHWM') / 1024, 1), nowMb: round(kb('VmRSS') / 1024, 1) };
}

const OPERATOR_TOKEN = 'bench-campaign-operator-token';

/** The service's V8 heap in use and its memory outside the heap, from its own process metrics. */
async function heapOf(metricsUrl: string): Promise<string> {
  const text = await (await fetch(metricsUrl, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })).text();
  const mb = (name: string) => round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0) / 1024 / 1024, 1);
  return `heap used ${mb('switchboard_process_nodejs_heap_size_used_bytes')} MB, external ${mb('switchboard_process_nodejs_external_memory_bytes')} MB`;
}

const startedAt = performance.now();
progress(`${quick ? 'quick' : 'full'} run: ${RECIPIENTS.toLocaleString('en')} recipients`);
const s3 = await startS3Server();
const result = await withBenchDatabase('bench_campaign', async (db) => {
  const audienceFile = path.join(db.root, KEY);
  const bytes = await writeAudience(audienceFile, RECIPIENTS);
  await s3.client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  // Uploaded as one buffer: a streamed upload is sent aws-chunked, whose framing s3rver would store as data.
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: await readFile(audienceFile) }));
  progress(`audience: ${round(bytes / 1024 / 1024, 1)} MB on the local S3 server`);

  // Baseline: stream the object, parse the same lines into the same sends, bare unnest INSERT per slice.
  const definition = toDefinition(campaignRequestSchema.parse(campaignBody));
  const record = { channel: 'email', definition } as const;
  const baselineStart = performance.now();
  const object = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
  let slice: Array<Extract<AudienceItem, { ok: true }>> = [];
  let inserted = 0;
  for await (const item of readAudience(object.Body as AsyncIterable<Uint8Array>, 'ndjson', START_OF_AUDIENCE)) {
    if (!item.ok) throw new Error(`baseline: audience line ${item.line} is malformed: ${item.reason}`);
    slice.push(item);
    if (slice.length === SLICE) {
      await rawInsert(
        db.pool,
        'baseline',
        slice.map((entry) => campaignSend(entry, record, 'baseline')),
      );
      inserted += slice.length;
      slice = [];
      if (inserted % 100_000 === 0) progress(`baseline: ${inserted.toLocaleString('en')} inserted`);
    }
  }
  if (slice.length > 0)
    await rawInsert(
      db.pool,
      'baseline',
      slice.map((entry) => campaignSend(entry, record, 'baseline')),
    );
  const baselineSeconds = (performance.now() - baselineStart) / 1000;
  progress(`baseline: ${round(RECIPIENTS / baselineSeconds, 0)} recipients/s (${round(baselineSeconds, 1)} s)`);
  await db.pool.query(sql.unsafe`TRUNCATE messages CASCADE`);
  await db.pool.query(sql.unsafe`VACUUM ANALYZE messages`);

  const server = await startServer({
    kind: 'service',
    env: {
      PORT: '0',
      DATABASE_URL: db.url,
      SWITCHBOARD_DATA_DIR: path.join(db.root, 'data'),
      SWITCHBOARD_API_KEYS: API_KEY,
      SWITCHBOARD_OPERATOR_TOKEN: OPERATOR_TOKEN,
      SWITCHBOARD_LOG_LEVEL: 'warn',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      SWITCHBOARD_PROVIDERS: JSON.stringify({
        email: [{ name: 'sink', type: 'sink', rate: { perSecond: 1_000_000, burst: 10_000 }, window: 256 }],
      }),
    },
    execArgv: [...heapFlag, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    onProblem: (line) => progress(line),
  });
  try {
    const pid = server.pid as number;
    const base = `http://127.0.0.1:${server.port}/v1/campaigns`;
    const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
    const campaignStart = performance.now();
    const created = await fetch(base, { method: 'POST', headers, body: JSON.stringify(campaignBody) });
    if (created.status !== 201) throw new Error(`campaign create answered ${created.status}: ${await created.text()}`);
    let acceptedSeconds: number | null = null;
    let lastReport = 0;
    for (;;) {
      const view = (await (await fetch(`${base}/bench`, { headers })).json()) as {
        status: string;
        done: boolean;
        counts: { accepted: number; sent: number; targeted: number };
      };
      const elapsed = (performance.now() - campaignStart) / 1000;
      if (acceptedSeconds === null && view.status === 'completed') acceptedSeconds = elapsed;
      if (view.status === 'failed' || view.status === 'cancelled') throw new Error(`campaign ended ${view.status}`);
      if (view.done) break;
      if (elapsed - lastReport >= 5) {
        lastReport = elapsed;
        const memory = await memoryOf(pid);
        const heap = await heapOf(`http://127.0.0.1:${server.port}/metrics`);
        progress(
          `campaign ${round(elapsed, 0)} s: ${view.counts.accepted.toLocaleString('en')} accepted, ` +
            `${view.counts.sent.toLocaleString('en')} sent, RSS ${memory.nowMb} MB (peak ${memory.peakMb} MB; ${heap})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const deliveredSeconds = (performance.now() - campaignStart) / 1000;
    const memory = await memoryOf(pid);
    return { bytes, baselineSeconds, acceptedSeconds: acceptedSeconds ?? deliveredSeconds, deliveredSeconds, memory };
  } finally {
    await server.stop();
  }
}).finally(() => s3.close());

const perSecond = (seconds: number) => round(RECIPIENTS / seconds, 0);
const ratio = round(result.baselineSeconds / result.acceptedSeconds, 3);
const deliveredRatio = round(result.baselineSeconds / result.deliveredSeconds, 3);
const rows = [
  ['baseline: stream + parse + unnest INSERT', result.baselineSeconds, '1.000'],
  ['campaign: every send accepted', result.acceptedSeconds, ratio.toFixed(3)],
  ['campaign: every send delivered (sink provider)', result.deliveredSeconds, deliveredRatio.toFixed(3)],
] as const;
for (const [what, seconds, r] of rows) {
  progress(
    `${what.padEnd(46)} ${round(seconds, 1).toString().padStart(7)} s ${perSecond(seconds).toString().padStart(8)}/s  ratio ${r}`,
  );
}
progress(`service peak RSS ${result.memory.peakMb} MB (goal ≤ ${GOALS.peakRssMb} MB)`);
progress(`done in ${round((performance.now() - startedAt) / 1000, 1)} s`);
console.log(
  JSON.stringify({
    benchmark: 'campaign',
    quick,
    recipients: RECIPIENTS,
    audienceBytes: result.bytes,
    baseline: { seconds: round(result.baselineSeconds, 2), perSecond: perSecond(result.baselineSeconds) },
    campaignAccepted: {
      seconds: round(result.acceptedSeconds, 2),
      perSecond: perSecond(result.acceptedSeconds),
      ratio,
    },
    campaignDelivered: {
      seconds: round(result.deliveredSeconds, 2),
      perSecond: perSecond(result.deliveredSeconds),
      ratio: deliveredRatio,
    },
    peakRssMb: result.memory.peakMb,
    serviceHeapFlag: heapFlag[0] ?? null,
    goals: {
      acceptedAtLeast0_5OfBaseline: ratio >= GOALS.ratio,
      peakRssAtMost512Mb: result.memory.peakMb <= GOALS.peakRssMb,
    },
  }),
);
