// kill -9 mid-campaign: a 20,000-recipient email campaign read from S3 (s3rver) while the service
// process is killed with SIGKILL at two seeded-random moments and restarted on the same database and
// data directory, with no campaign command issued after a restart. The campaign must resume by itself
// from its last saved cursor and complete, with every recipient mailed: never zero times, and more
// than once only for deliveries a kill cut off in flight, at most one window (32) per kill. A re-read
// audience slice never mails anyone twice: its sends are keyed `campaignId:recipientId`.
//
// Replay a failure with the seed it printed: SWITCHBOARD_CHAOS_SEED=<seed> npm run test:chaos
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createPool, type DatabasePool, sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { z } from 'zod';
import { type CountingSmtpServer, startCountingSmtpServer } from '../support/countingSmtpServer.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { type S3TestServer, startS3Server } from '../support/s3Server.ts';
import { chaosSeed, seededRandom } from '../support/seededRandom.ts';
import { cleanUp, reapOnExit, stopOrKill } from '../support/serviceCleanup.ts';
import { saveServiceLogs } from '../support/serviceLogs.ts';
import { type ServiceProcess, startService } from '../support/serviceProcess.ts';
import { waitFor } from '../support/waitFor.ts';

const API_KEY = 'chaos-campaign-api-key-0123456789';
const BUCKET = 'audiences';
const AUDIENCE_KEY = 'chaos.ndjson';
const CAMPAIGN = 'chaos-campaign';
const RECIPIENTS = 20_000;
const RATE_PER_SECOND = 1_500;
const KILLS = 2;
/** The email channel's in-flight window: at most this many deliveries can be cut off by one kill. */
const IN_FLIGHT_WINDOW = 32;
/**
 * Unfinished sends at which the campaign stops reading. Acceptance at the campaign's rate outruns
 * SMTP delivery by far, so with the default (20,000) the whole audience would be read while few mails
 * had gone out, and a kill at 15 %–70 % of the mails would land after the campaign had completed.
 * Capped, reading keeps pace with delivery, and each kill interrupts a campaign still reading.
 */
const MAX_BACKLOG = 2_000;
const PROGRESS_EVERY_MS = 2_000;

const log = (line: string) => console.log(`[chaos:campaign] ${line}`);

type View = {
  status: string;
  done: boolean;
  counts: {
    targeted: number;
    accepted: number;
    sent: number;
    failed: number;
    suppressed: number;
    remaining: number;
    malformed: number;
  };
  audience: { complete: boolean; read: number; linesRead: number; size: number | null };
};

/**
 * The mail counts at which the process is killed: one in each of two bands of 15 %–70 % of the
 * audience (15 %–40 %, 45 %–70 %), so the kills are spread out and both land mid-campaign.
 */
function killPoints(random: () => number, recipients: number): number[] {
  const bands: Array<[number, number]> = [
    [0.15, 0.4],
    [0.45, 0.7],
  ];
  return bands.map(([low, high]) => Math.floor(recipients * (low + (high - low) * random())));
}

describe(`a campaign whose service is killed with SIGKILL ${KILLS} times`, () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const processes: ServiceProcess[] = [];
  let db: TestDatabase | undefined;
  let s3: S3TestServer | undefined;
  let smtp: CountingSmtpServer | undefined;
  let pool: DatabasePool | undefined;
  let dataDir: string | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    log(`seed ${seed} (replay with SWITCHBOARD_CHAOS_SEED=${seed})`);
    db = await createTestDatabase('sbchaos');
    pool = await createPool(db.url, { maximumPoolSize: 1 });
    s3 = await startS3Server();
    smtp = await startCountingSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-chaos-campaign-'));
    await s3.client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // A string body: s3rver would store a streamed upload with its aws-chunked framing.
    const audience = Array.from(
      { length: RECIPIENTS },
      (_, i) => `${JSON.stringify({ id: `c-${i}`, email: `c-${i}@example.com` })}\n`,
    ).join('');
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: AUDIENCE_KEY, Body: audience }));
    env = {
      PORT: '0',
      DATABASE_URL: db.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: API_KEY,
      SWITCHBOARD_LOG_LEVEL: 'info',
      // The service's S3 client takes its credentials from the SDK's default chain. No AWS_REGION:
      // it would switch SMS to SNS.
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      // Progress snapshots every 500 recipients, so a restart re-reads little of the audience.
      SWITCHBOARD_CAMPAIGN_SNAPSHOT_EVERY: '2500',
      SWITCHBOARD_CAMPAIGN_MAX_BACKLOG: String(MAX_BACKLOG),
      // Faster than the campaign's rate (the default provider rate, 200/s, would be the bottleneck).
      SWITCHBOARD_PROVIDERS: JSON.stringify({
        email: [
          {
            name: 'smtp',
            type: 'smtp',
            url: smtp.url,
            rate: { perSecond: 2_000, burst: 200 },
            window: IN_FLIGHT_WINDOW,
          },
        ],
      }),
    };
  });

  afterAll(async () => {
    // Whatever happened, no service process outlives the test.
    await cleanUp([
      ...processes.map((service) => () => stopOrKill(service)),
      () => smtp?.close(),
      () => s3?.close(),
      () => pool?.end(),
      () => db?.drop(),
      () => dataDir && rm(dataDir, { recursive: true, force: true }),
    ]);
  });

  it('resumes by itself after each kill and mails every recipient, duplicates within one window per kill', async () => {
    if (!smtp || !pool) throw new Error('the test servers did not start');
    // The service logs are kept when the test fails, or always with SWITCHBOARD_CHAOS_KEEP_LOGS=1.
    const keepLogs = async () => {
      for (const file of await saveServiceLogs(`campaign-sigkill-${seed}`, processes)) {
        log(`service log kept in ${file}`);
      }
    };
    if (process.env.SWITCHBOARD_CHAOS_KEEP_LOGS) onTestFinished(keepLogs);
    else onTestFailed(keepLogs);
    const mailbox = smtp;
    const store = pool;
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

    // Mails received per campaign recipient, and in all.
    const campaignMails = () => [...mailbox.byRecipient].filter(([address]) => address.startsWith('c-'));
    let base = '';
    const api = (method: string, route: string, body?: unknown) =>
      fetch(`${base}/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    const view = async (): Promise<View> => {
      const response = await api('GET', `/campaigns/${CAMPAIGN}`);
      if (response.status !== 200) throw new Error(`GET /v1/campaigns/${CAMPAIGN} answered ${response.status}`);
      return (await response.json()) as View;
    };
    const describeView = (v: View) =>
      `status ${v.status} targeted ${v.counts.targeted} accepted ${v.counts.accepted} sent ${v.counts.sent} ` +
      `remaining ${v.counts.remaining} (audience line ${v.audience.linesRead})`;

    // The database clock when the running incarnation started: deliveries it left in `sending` are
    // the ones its kill cut off.
    const databaseNow = () =>
      store.oneFirst(sql.type(z.object({ now: z.string() }))`SELECT clock_timestamp()::text AS now`);
    let incarnationStarted = '';
    const start = async (): Promise<void> => {
      incarnationStarted = await databaseNow();
      const service = startService(env);
      reapOnExit(service.child);
      processes.push(service);
      base = `http://127.0.0.1:${await service.ready(60_000)}`;
    };

    await start();
    const created = await api('POST', '/campaigns', {
      id: CAMPAIGN,
      name: 'Chaos',
      channel: 'email',
      content: { subject: 'Chaos', text: `Campaign of run ${seed}` },
      audience: `s3://${BUCKET}/${AUDIENCE_KEY}`,
      ratePerSecond: RATE_PER_SECOND,
      start: true,
    });
    expect(created.status).toBe(201);

    const points = killPoints(random, RECIPIENTS);
    log(`${RECIPIENTS} recipients at ${RATE_PER_SECOND}/s; SIGKILL after ${points.join(', ')} mails received`);
    const progress = () =>
      log(
        `${elapsed()} smtp ${mailbox.mails} mails to ${campaignMails().length} recipients ` +
          `(${mailbox.cutOff} cut off) kills ${processes.length - 1}/${KILLS}`,
      );
    const ticker = setInterval(progress, PROGRESS_EVERY_MS);
    const cutOff: number[] = [];
    try {
      // Sends accepted for the campaign when the last kill struck: a restarted process has resumed the
      // campaign once it accepts more (a re-read slice adds none, its keys are taken).
      let acceptedAtKill = 0;
      for (const [k, point] of points.entries()) {
        await waitFor(async () => mailbox.mails >= point && (await view()).counts.accepted > acceptedAtKill, {
          timeoutMs: 120_000,
          intervalMs: 10,
          what: `${point} mails and new recipients accepted before kill ${k + 1}`,
        });
        const victim = processes.at(-1) as ServiceProcess;
        victim.child.kill('SIGKILL');
        const signal = await victim.exited;
        const mailsAtKill = mailbox.mails;
        // With the process dead, the database holds exactly what the kill left behind.
        const saved = await store.one(sql.type(
          z.object({ status: z.string(), targeted: z.number(), line: z.number() }),
        )`
          SELECT status, targeted::int AS targeted, cursor_line::int AS line FROM campaigns WHERE id = ${CAMPAIGN}`);
        const states = await store.any(sql.type(z.object({ state: z.string(), n: z.number() }))`
          SELECT state, count(*)::int AS n FROM messages WHERE campaign_id = ${CAMPAIGN} GROUP BY state ORDER BY state`);
        acceptedAtKill = states.reduce((sum, s) => sum + s.n, 0);
        cutOff.push(
          await store.oneFirst(sql.type(z.object({ n: z.number() }))`
            SELECT count(*)::int AS n FROM messages
             WHERE campaign_id = ${CAMPAIGN} AND state = 'sending' AND updated_at >= ${incarnationStarted}::timestamptz`),
        );
        // The campaign was still under way: it is the restart that has to carry it on.
        expect(saved.status, `campaign status at kill ${k + 1}`).toBe('running');

        // Restarted with no campaign command: only GETs reach the service from here on.
        await start();
        const restarted = processes.at(-1) as ServiceProcess;
        const requeued = /"count":(\d+)/.exec(
          restarted.stdout.find((line) => line.includes('re-queued unfinished messages')) ?? '',
        )?.[1];
        const resumed = restarted.stdout.find((line) => line.includes('resuming campaigns')) ?? 'none';
        const afterRestart = await view();
        log(
          `${elapsed()} kill ${k + 1}: pid ${victim.child.pid} exited with ${signal} at ${mailsAtKill} mails ` +
            `(${campaignMails().length} recipients); saved progress: status ${saved.status} targeted ${saved.targeted} ` +
            `line ${saved.line} (${acceptedAtKill - saved.targeted} accepted past it, to be read again); ${acceptedAtKill} messages ${JSON.stringify(Object.fromEntries(states.map((s) => [s.state, s.n])))}; ` +
            `${cutOff.at(-1)} deliveries cut off in sending; restarted as pid ${restarted.child.pid}, which ` +
            `re-queued ${requeued ?? 'no'} unfinished messages and logged ${resumed}; now ${describeView(afterRestart)}`,
        );
        expect(resumed, `restart ${k + 1} resumes the campaign by itself`).toContain(CAMPAIGN);
      }

      const final = await waitFor(
        async () => {
          const current = await view();
          return current.done ? current : null;
        },
        { timeoutMs: 300_000, intervalMs: 500, what: 'the campaign to be done after the kills' },
      );
      progress();
      log(`${elapsed()} done: ${describeView(final)}`);

      const mailed = campaignMails();
      const duplicates = mailed.filter(([, count]) => count > 1);
      const extraMails = duplicates.reduce((sum, [, count]) => sum + count - 1, 0);
      const flagged = processes
        .flatMap((service) => service.stdout)
        .filter((line) => line.includes('possible duplicate')).length;
      log(
        `RESULT seed=${seed} recipients=${RECIPIENTS} kills=${KILLS} mails=${mailbox.mails} ` +
          `cut-off-in-sending=${cutOff.join('/')} duplicates=${duplicates.length} recipients mailed more than once ` +
          `(${extraMails} extra mails; service flagged ${flagged} possible duplicates; limit ${KILLS * IN_FLIGHT_WINDOW}) ` +
          `duration=${elapsed()}`,
      );

      expect(final.status).toBe('completed');
      expect(final.counts).toMatchObject({
        targeted: RECIPIENTS,
        accepted: RECIPIENTS,
        sent: RECIPIENTS,
        failed: 0,
        suppressed: 0,
        remaining: 0,
        malformed: 0,
      });
      const received = new Set(mailed.map(([address]) => address));
      const never = Array.from({ length: RECIPIENTS }, (_, i) => `c-${i}@example.com`).filter(
        (address) => !received.has(address),
      );
      expect(never, 'recipients never mailed').toEqual([]);
      expect(mailed).toHaveLength(RECIPIENTS);
      expect(
        duplicates.length,
        `recipients mailed more than once, e.g. ${JSON.stringify(duplicates.slice(0, 3))}`,
      ).toBeLessThanOrEqual(KILLS * IN_FLIGHT_WINDOW);
      // The mechanism behind that bound: no kill cut off more deliveries than the in-flight window.
      expect(cutOff, `deliveries in sending at each kill (window ${IN_FLIGHT_WINDOW})`).toSatisfy((counts: number[]) =>
        counts.every((n) => n <= IN_FLIGHT_WINDOW),
      );
    } finally {
      clearInterval(ticker);
    }
  });
});
