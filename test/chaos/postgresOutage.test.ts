// PostgreSQL goes away under load: the service runs against a cluster of the test's own (so stopping
// it disturbs no other suite), steady email sends arrive over HTTP, and the cluster is stopped
// (`pg_ctl stop -m fast`) for about five seconds, then started again. While it is down the service
// must refuse sends with 503 problem documents and report not ready; once it is back, the same
// process must accept again and deliver everything it had accepted — nothing answered 202/200 lost.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { type CountingSmtpServer, startCountingSmtpServer } from '../support/countingSmtpServer.ts';
import { waitForTerminal } from '../support/messageStates.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../support/privatePostgres.ts';
import { describeFailure, SendLoad, type SendLoadStats } from '../support/sendLoad.ts';
import { cleanUp, reapOnExit, stopOrKill } from '../support/serviceCleanup.ts';
import { saveServiceLogs } from '../support/serviceLogs.ts';
import { type ServiceProcess, startService } from '../support/serviceProcess.ts';
import { waitFor } from '../support/waitFor.ts';

const API_KEY = 'chaos-outage-api-key-0123456789';
const OUTAGE_MS = 5_000;
const CONCURRENCY = 16;
const RECIPIENTS = 200;
const PROGRESS_EVERY_MS = 2_000;

const log = (line: string) => console.log(`[chaos:pg-outage] ${line}`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Answer = { readonly status: number; readonly contentType: string; readonly body: unknown };

async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // keep the text
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body };
}

const isProblem = (answer: Answer, status: number): boolean =>
  answer.status === status &&
  answer.contentType.startsWith('application/problem+json') &&
  (answer.body as { status?: unknown }).status === status;

describe('switchboard while its PostgreSQL is stopped and started again', () => {
  let cluster: PrivatePostgres | undefined;
  let smtp: CountingSmtpServer | undefined;
  let dataDir: string | undefined;
  let service: ServiceProcess | undefined;
  let base: string;
  let load: SendLoad | undefined;

  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    smtp = await startCountingSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-chaos-pg-outage-'));
    service = startService({
      PORT: '0',
      DATABASE_URL: cluster.url,
      SMTP_URL: smtp.url,
      SWITCHBOARD_API_KEYS: API_KEY,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_LOG_LEVEL: 'info',
    });
    reapOnExit(service.child);
    base = `http://127.0.0.1:${await service.ready(60_000)}`;
    log(`service pid ${service.child.pid} on ${base}; private PostgreSQL on port ${cluster.port}`);
  });

  afterAll(async () => {
    load?.abort();
    // Whatever happened, neither the service nor the cluster outlives the test.
    await cleanUp([
      () => service && stopOrKill(service),
      () => cluster?.close(),
      () => smtp?.close(),
      () => dataDir && rm(dataDir, { recursive: true, force: true }),
    ]);
  });

  it('answers 503 and not-ready during the outage, then accepts again in the same process and loses nothing', async () => {
    if (!cluster || !smtp || !service) throw new Error('set-up did not finish');
    const running = service;
    // The service logs are kept when the test fails, or always with SWITCHBOARD_CHAOS_KEEP_LOGS=1.
    const keepLogs = async () => {
      for (const file of await saveServiceLogs('pg-outage', [running])) log(`service log kept in ${file}`);
    };
    if (process.env.SWITCHBOARD_CHAOS_KEEP_LOGS) onTestFinished(keepLogs);
    else onTestFailed(keepLogs);
    const pid = service.child.pid;
    let exitedWith: number | string | undefined;
    void service.exited.then((code) => {
      exitedWith = code;
    });
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
    // Single sends beside the load, each with a new key: what a new client sees at that moment. A key
    // is reused until the service has answered it, so a probe never leaves an unknown message behind.
    let probeKey = 0;
    const probeIds = new Set<string>();
    const noResponse: string[] = [];
    const probeSend = async (): Promise<Answer> => {
      let answer: Answer;
      try {
        answer = await request(`${base}/v1/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            channel: 'email',
            idempotencyKey: `outage-probe-${probeKey}`,
            to: { id: 'outage-probe', email: 'probe@example.com' },
            content: { subject: `probe ${probeKey}`, text: `probe ${probeKey}` },
          }),
        });
      } catch (error) {
        noResponse.push(`probe: ${describeFailure(error)}`);
        return { status: 0, contentType: '', body: describeFailure(error) };
      }
      const id = (answer.body as { id?: unknown }).id;
      if ((answer.status === 202 || answer.status === 200) && typeof id === 'string') probeIds.add(id);
      if (answer.status === 202 || answer.status === 200 || answer.status === 503) probeKey++;
      return answer;
    };
    const readyz = () => request(`${base}/readyz`);

    const sends = new SendLoad({
      apiKey: API_KEY,
      concurrency: CONCURRENCY,
      total: Infinity,
      target: () => base,
      retryDelayMs: 100,
      onNoResponse: (error) => noResponse.push(`load: ${describeFailure(error)}`),
      body: (i) => {
        const recipient = `outage-${i % RECIPIENTS}`;
        return {
          channel: 'email',
          idempotencyKey: `outage-${i}`,
          to: { id: recipient, email: `${recipient}@example.com` },
          content: { subject: `outage ${i}`, text: `send ${i}` },
        };
      },
    });
    load = sends;
    let phase: 'before' | 'outage' | 'recovering' | 'after' = 'before';
    const progress = () => {
      const s = sends.stats();
      log(
        `${elapsed()} [${phase}] sent ${s.started} accepted ${s.answered} (202: ${s.accepted202}, 200: ${s.duplicate200}) ` +
          `503: ${s.unavailable503} no-response: ${s.noResponse} other: ${s.other} smtp ${smtp?.counts.size ?? 0} ids`,
      );
    };
    const ticker = setInterval(progress, PROGRESS_EVERY_MS);

    const readyDuringOutage: Answer[] = [];
    const probesDuringOutage: Answer[] = [];
    let before: SendLoadStats | undefined;
    let atOutageEnd: SendLoadStats | undefined;
    let recoveryMs: number | undefined;
    try {
      sends.start();
      await waitFor(() => sends.stats().answered >= 500, {
        timeoutMs: 60_000,
        what: '500 sends accepted before the outage',
      });
      expect((await readyz()).status).toBe(200);
      before = sends.stats();

      phase = 'outage';
      await cluster.stop();
      const outageStarted = Date.now();
      log(`${elapsed()} PostgreSQL stopped (pg_ctl stop -m fast)`);
      while (Date.now() - outageStarted < OUTAGE_MS) {
        readyDuringOutage.push(await readyz());
        probesDuringOutage.push(await probeSend());
        await sleep(250);
      }
      atOutageEnd = sends.stats();

      phase = 'recovering';
      await cluster.start();
      const restarted = Date.now();
      log(`${elapsed()} PostgreSQL started again after ${restarted - outageStarted} ms down`);
      await waitFor(async () => (await probeSend()).status === 202, {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: 'a new send to be accepted (202) after PostgreSQL came back',
      });
      recoveryMs = Date.now() - restarted;
      await waitFor(async () => (await readyz()).status === 200, {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: '/readyz to report ready again',
      });
      phase = 'after';
      const afterRecovery = sends.stats().answered;
      await waitFor(() => sends.stats().answered >= afterRecovery + 500, {
        timeoutMs: 60_000,
        what: '500 more sends accepted after the outage',
      });
      await sends.stop();
    } catch (error) {
      sends.abort();
      throw error;
    } finally {
      clearInterval(ticker);
      progress();
    }

    const stats = sends.stats();
    if (!before || !atOutageEnd) throw new Error('the outage did not happen');
    const outage503 = atOutageEnd.unavailable503 - before.unavailable503;
    const readyStatuses = readyDuringOutage.map((answer) => answer.status);
    const probeStatuses = probesDuringOutage.map((answer) => answer.status);
    log(
      `outage: ${outage503} load sends answered 503, probe sends ${JSON.stringify(count(probeStatuses))}, ` +
        `/readyz ${JSON.stringify(count(readyStatuses))}; new sends accepted again ${recoveryMs}ms after PostgreSQL started`,
    );
    // During the outage: sends refused with a problem document, and not ready.
    expect(outage503).toBeGreaterThan(0);
    expect(probesDuringOutage.length).toBeGreaterThan(0);
    for (const answer of probesDuringOutage) expect(isProblem(answer, 503), JSON.stringify(answer)).toBe(true);
    for (const answer of readyDuringOutage) {
      expect(isProblem(answer, 503), JSON.stringify(answer)).toBe(true);
      expect(answer.body).toMatchObject({ checks: { store: 'down' } });
    }
    expect(sends.problems).toEqual([]);
    // The service never dropped a request and never exited; the same process accepts again.
    expect(noResponse).toEqual([]);
    expect(exitedWith).toBeUndefined();
    expect(service.child.pid).toBe(pid);
    expect(service.child.exitCode).toBeNull();

    // Nothing that was accepted is lost: every id reaches a terminal state and the SMTP server.
    const loadIds = new Set([...sends.answers.values()].map((answer) => answer.id));
    expect(loadIds.size).toBe(stats.answered);
    const ids = [...loadIds, ...probeIds];
    const mailbox = smtp;
    await waitFor(() => ids.every((id) => mailbox.counts.has(id)), {
      timeoutMs: 120_000,
      intervalMs: 500,
      what: 'SMTP to receive every accepted id',
    }).catch(() => {}); // the assertions below name whatever is missing
    const settled = await waitForTerminal(ids, { base, apiKey: API_KEY, timeoutMs: 60_000, concurrency: 32 });
    const duplicates = mailbox.duplicates();
    const flagged = service.stdout.filter((line) => line.includes('possible duplicate')).length;
    log(
      `RESULT outage=${OUTAGE_MS}ms sends-503-during-outage=${outage503} probes=${JSON.stringify(count(probeStatuses))} ` +
        `readyz=${JSON.stringify(count(readyStatuses))} recovery=${recoveryMs}ms accepted=${ids.length} ` +
        `(202: ${stats.accepted202}, 200: ${stats.duplicate200}) states=${JSON.stringify(settled.histogram)} ` +
        `duplicates=${duplicates.size} ids received more than once (service flagged ${flagged} possible duplicates) ` +
        `duration=${elapsed()}`,
    );
    const answerOf = new Map([...sends.answers.values()].map((answer) => [answer.id, answer]));
    const explain = (id: string) => {
      const answer = answerOf.get(id);
      return `${id} (${answer ? `key ${answer.key}, answered ${answer.status}` : 'probe'}, now ${settled.states.get(id)})`;
    };
    const answered = new Set(ids);
    expect(settled.open.map(explain), 'accepted ids that never reached a terminal state').toEqual([]);
    expect(
      ids.filter((id) => !mailbox.counts.has(id)).map(explain),
      'accepted ids the SMTP server never received',
    ).toEqual([]);
    expect(
      [...mailbox.counts.keys()].filter((id) => !answered.has(id)),
      'ids mailed that were never accepted',
    ).toEqual([]);
    expect(settled.histogram).toEqual({ sent: ids.length });
    // No process died, so the service knows which sends the SMTP server took: an outage of the store
    // is no reason to mail anything twice (ARCHITECTURE §3 allows repeats only for a crash).
    expect(
      duplicates.size,
      `ids mailed twice because of the outage: ${[...duplicates.keys()].slice(0, 5).map(explain).join(', ')}`,
    ).toBe(0);
    expect(exitedWith, 'the service exited while it drained the backlog').toBeUndefined();
  });
});

function count(values: readonly number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}
