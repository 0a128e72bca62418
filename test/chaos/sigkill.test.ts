// kill -9 under load: 20,000 email sends over HTTP while the service process is killed with SIGKILL
// at three seeded-random moments and restarted on the same database and data directory. Nothing that
// was answered 202/200 may be lost, nothing unanswered may be mailed, and the mails sent twice must
// stay within what the design allows: one in-flight window (32) per kill.
//
// Replay a failure with the seed it printed: SWITCHBOARD_CHAOS_SEED=<seed> npm run test:chaos
// Fewer sends for a quick look: SWITCHBOARD_CHAOS_SENDS=2000 npm run test:chaos
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, type DatabasePool, sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { z } from 'zod';
import { waitForTerminal } from '../support/messageStates.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { chaosSeed, seededRandom } from '../support/seededRandom.ts';
import { describeFailure, SendLoad } from '../support/sendLoad.ts';
import { type CountingSmtpServer, startCountingSmtpServer } from '../support/countingSmtpServer.ts';
import { cleanUp, reapOnExit, stopOrKill } from '../support/serviceCleanup.ts';
import { saveServiceLogs } from '../support/serviceLogs.ts';
import { type ServiceProcess, startService } from '../support/serviceProcess.ts';
import { waitFor } from '../support/waitFor.ts';

const API_KEY = 'chaos-sigkill-api-key-0123456789';
const SENDS = Number(process.env.SWITCHBOARD_CHAOS_SENDS ?? 20_000);
const CONCURRENCY = 64;
const KILLS = 3;
/** The channel's in-flight window: at most this many deliveries can be cut off by one kill. */
const IN_FLIGHT_WINDOW = 32;
const RECIPIENTS = 1_000;
const PROGRESS_EVERY_MS = 3_000;

const log = (line: string) => console.log(`[chaos:sigkill] ${line}`);

/**
 * The answered-send counts at which the process is killed: one in each third of 10 %–90 % of the
 * load, so the kills are spread out and each lands while sends and deliveries are both under way.
 */
function killPoints(random: () => number, sends: number): number[] {
  const span = 0.8 / KILLS;
  return Array.from({ length: KILLS }, (_, k) => Math.floor(sends * (0.1 + span * (k + random()))));
}

describe(`switchboard killed with SIGKILL ${KILLS} times under load`, () => {
  const seed = chaosSeed();
  const random = seededRandom(seed);
  const processes: ServiceProcess[] = [];
  let db: TestDatabase | undefined;
  let smtp: CountingSmtpServer | undefined;
  let dataDir: string | undefined;
  let env: Record<string, string>;
  let load: SendLoad | undefined;
  let pool: DatabasePool | undefined;

  beforeAll(async () => {
    log(`seed ${seed} (replay with SWITCHBOARD_CHAOS_SEED=${seed})`);
    db = await createTestDatabase('sbchaos');
    pool = await createPool(db.url, { maximumPoolSize: 1 });
    smtp = await startCountingSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-chaos-sigkill-'));
    env = {
      PORT: '0',
      DATABASE_URL: db.url,
      SMTP_URL: smtp.url,
      SWITCHBOARD_API_KEYS: API_KEY,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_LOG_LEVEL: 'info',
    };
  });

  afterAll(async () => {
    load?.abort();
    // Whatever happened, no service process outlives the test.
    await cleanUp([
      ...processes.map((service) => () => stopOrKill(service)),
      () => smtp?.close(),
      () => pool?.end(),
      () => db?.drop(),
      () => dataDir && rm(dataDir, { recursive: true, force: true }),
    ]);
  });

  it('loses no accepted send, sends nothing unaccepted, and keeps duplicates within one window per kill', async () => {
    if (!smtp) throw new Error('the SMTP server did not start');
    // The service logs are kept when the test fails, or always with SWITCHBOARD_CHAOS_KEEP_LOGS=1.
    const keepLogs = async () => {
      for (const file of await saveServiceLogs(`sigkill-${seed}`, processes)) log(`service log kept in ${file}`);
    };
    if (process.env.SWITCHBOARD_CHAOS_KEEP_LOGS) onTestFinished(keepLogs);
    else onTestFailed(keepLogs);
    const mailbox = smtp;
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

    // What each incarnation had claimed (moved to `sending`) and not recorded when it was killed:
    // the deliveries a kill cuts off, each a possible duplicate. The design bounds them by the window.
    if (!pool) throw new Error('no database pool');
    const store = pool;
    const databaseNow = () =>
      store.oneFirst(sql.type(z.object({ now: z.string() }))`SELECT clock_timestamp()::text AS now`);
    const cutOff: number[] = [];
    let incarnationStarted = '';

    // The service being sent to, and a promise of its base URL that waits while it is down.
    const start = async (): Promise<string> => {
      incarnationStarted = await databaseNow();
      const service = startService(env);
      reapOnExit(service.child);
      processes.push(service);
      return `http://127.0.0.1:${await service.ready(60_000)}`;
    };
    let target: Promise<string> = Promise.resolve(await start());
    let kills = 0;
    let noResponseSinceKill = new Map<string, number>();

    const points = killPoints(random, SENDS);
    log(`${SENDS} sends, ${CONCURRENCY} in flight; SIGKILL after ${points.join(', ')} answered sends`);

    const sends = new SendLoad({
      apiKey: API_KEY,
      concurrency: CONCURRENCY,
      total: SENDS,
      target: () => target,
      retryDelayMs: 50,
      onNoResponse: (error) => {
        const reason = describeFailure(error);
        noResponseSinceKill.set(reason, (noResponseSinceKill.get(reason) ?? 0) + 1);
      },
      // Every send has its own content, so recipient policy (content dedupe) never suppresses one.
      body: (i) => {
        const recipient = `chaos-${i % RECIPIENTS}`;
        return {
          channel: 'email',
          idempotencyKey: `sigkill-${seed}-${i}`,
          to: { id: recipient, email: `${recipient}@example.com` },
          content: { subject: `chaos ${i}`, text: `send ${i} of run ${seed}` },
        };
      },
    });
    load = sends;

    const progress = () => {
      const s = sends.stats();
      log(
        `${elapsed()} sent ${s.started}/${SENDS} accepted ${s.answered} (202: ${s.accepted202}, 200: ${s.duplicate200}) ` +
          `503: ${s.unavailable503} no-response: ${s.noResponse} kills ${kills}/${KILLS} ` +
          `smtp ${mailbox.counts.size} ids / ${mailbox.mails} mails (${mailbox.cutOff} cut off)`,
      );
    };
    const ticker = setInterval(progress, PROGRESS_EVERY_MS);
    try {
      sends.start();
      let loadDone = false;
      const finished = sends.finished().then(() => {
        loadDone = true;
      });
      for (const point of points) {
        await waitFor(() => loadDone || sends.stats().answered >= point, {
          timeoutMs: 600_000,
          intervalMs: 10,
          what: `${point} answered sends`,
        });
        if (loadDone) break;
        const victim = processes.at(-1) as ServiceProcess;
        const restarted = Promise.withResolvers<string>();
        target = restarted.promise;
        noResponseSinceKill = new Map();
        victim.child.kill('SIGKILL');
        const signal = await victim.exited;
        kills++;
        cutOff.push(
          await store.oneFirst(sql.type(z.object({ n: z.number() }))`
            SELECT count(*)::int AS n FROM messages
             WHERE state = 'sending' AND updated_at >= ${incarnationStarted}::timestamptz`),
        );
        const answered = sends.stats().answered;
        const base = await start();
        restarted.resolve(base);
        const requeued = /"count":(\d+)/.exec(
          processes.at(-1)?.stdout.find((line) => line.includes('re-queued unfinished messages')) ?? '',
        )?.[1];
        log(
          `${elapsed()} kill ${kills}: pid ${victim.child.pid} exited with ${signal} after ${answered} answered sends; ` +
            `${cutOff.at(-1)} deliveries cut off in sending; restarted as pid ${processes.at(-1)?.child.pid}, which re-queued ${requeued ?? 'no'} unfinished messages ` +
            `(requests without a response meanwhile: ${JSON.stringify(Object.fromEntries(noResponseSinceKill))})`,
        );
      }
      await finished;
      progress();
    } finally {
      clearInterval(ticker);
    }

    const stats = sends.stats();
    expect(sends.problems).toEqual([]);
    expect(kills).toBe(KILLS);
    expect(stats.answered).toBe(SENDS);
    const ids = [...new Set([...sends.answers.values()].map((answer) => answer.id))];
    // One message per idempotency key: a retry after a kill never made a second one.
    expect(ids).toHaveLength(SENDS);
    const answered = new Set(ids);

    // The last incarnation finishes the backlog, including what the kills cut off.
    const base = await target;
    await waitFor(() => ids.every((id) => mailbox.counts.has(id)), {
      timeoutMs: 300_000,
      intervalMs: 500,
      what: 'SMTP to receive every accepted id',
    }).catch(() => {}); // the assertions below name whatever is missing
    log(`${elapsed()} SMTP has ${mailbox.counts.size} ids; reading ${ids.length} message states`);
    const settled = await waitForTerminal(ids, { base, apiKey: API_KEY, timeoutMs: 120_000, concurrency: 64 });

    const received = mailbox.counts;
    const duplicates = mailbox.duplicates();
    const extraMails = [...duplicates.values()].reduce((sum, count) => sum + count - 1, 0);
    const flagged = processes
      .flatMap((service) => service.stdout)
      .filter((line) => line.includes('possible duplicate')).length;
    log(
      `RESULT seed=${seed} sends=${SENDS} kills=${kills} cut-off-in-sending=${cutOff.join('/')} duplicates=${duplicates.size} ids received more than once ` +
        `(${extraMails} extra mails; service flagged ${flagged} possible duplicates; limit ${KILLS * IN_FLIGHT_WINDOW}) ` +
        `answers 202: ${stats.accepted202}, 200: ${stats.duplicate200} states=${JSON.stringify(settled.histogram)} ` +
        `duration=${elapsed()}`,
    );

    const answerOf = new Map([...sends.answers.values()].map((answer) => [answer.id, answer]));
    const explain = (id: string) => {
      const answer = answerOf.get(id);
      return `${id} (key ${answer?.key}, answered ${answer?.status}, now ${settled.states.get(id)})`;
    };
    expect(settled.open.map(explain), 'accepted ids that never reached a terminal state').toEqual([]);
    expect(ids.filter((id) => !received.has(id)).map(explain), 'accepted ids the SMTP server never received').toEqual(
      [],
    );
    expect(
      [...received.keys()].filter((id) => !answered.has(id)),
      'ids mailed that were never answered 202/200',
    ).toEqual([]);
    expect(mailbox.withoutId).toBe(0);
    expect(settled.histogram).toEqual({ sent: SENDS });
    expect(
      duplicates.size,
      `ids mailed more than once, e.g. ${[...duplicates.keys()].slice(0, 3).map(explain).join(', ')}`,
    ).toBeLessThanOrEqual(KILLS * IN_FLIGHT_WINDOW);
    // The mechanism behind that bound: no kill cut off more deliveries than the in-flight window.
    expect(cutOff, `deliveries in sending at each kill (window ${IN_FLIGHT_WINDOW})`).toSatisfy((counts: number[]) =>
      counts.every((n) => n <= IN_FLIGHT_WINDOW),
    );
  });
});
