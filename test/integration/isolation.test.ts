// Isolation between channels: with email and SMS under steady load, the SMS provider hangs for 20 s.
// Email throughput during the outage stays at ≥ 90% of before it (measured in this run), every SMS is
// delivered after recovery, and nothing is lost or doubled.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtpServer.ts';
import { startSnsEndpoint, type TestSnsEndpoint } from '../support/snsEndpoint.ts';
import { waitFor } from '../support/waitFor.ts';

const KEY = 'isolation-api-key-0123';
const RATE_PER_SECOND = 40;
const BEFORE_MS = 6_000;
const OUTAGE_MS = 20_000;
const credentials = { accessKeyId: 'AKIDISOLATIONTEST', secretAccessKey: 'isolation-test-secret' };

describe('channel isolation', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let sns: TestSnsEndpoint;
  let dataDir: string;
  let service: Switchboard;
  let base: string;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    db = await createTestDatabase();
    smtp = await startSmtpServer();
    sns = await startSnsEndpoint({ credentials });
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-isolation-'));
    process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
    const providers = {
      email: [{ name: 'smtp-primary', type: 'smtp', url: smtp.url }],
      sms: [{ name: 'sns', type: 'sns', timeoutMs: 2_000, breaker: { resetTimeoutMs: 2_000 } }],
    };
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_SNS: sns.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: KEY,
      SWITCHBOARD_PROVIDERS: JSON.stringify(providers),
    });
    service = await Switchboard.start({ config, logger: createLogger({ level: 'error' }) });
    base = `http://127.0.0.1:${service.port}`;
  });

  afterAll(async () => {
    sns?.clearPlan();
    sns?.releaseHung();
    await service?.stop(2_000);
    await smtp?.close();
    await sns?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
    process.env.AWS_ACCESS_KEY_ID = saved.id;
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });

  const send = async (body: unknown): Promise<string> => {
    const response = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  it('keeps email flowing while SMS hangs, and delivers every SMS once afterwards', { timeout: 300_000 }, async () => {
    const smsTexts: string[] = [];
    let n = 0;
    let running = true;
    // Steady load: one email and one SMS every 1/RATE s, paced by the clock, not by the service.
    const load = (async () => {
      const started = performance.now();
      while (running) {
        const due = started + (n * 1000) / RATE_PER_SECOND;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const i = n++;
        const text = `sms #${i}`;
        smsTexts.push(text);
        await Promise.all([
          send({
            channel: 'email',
            to: { id: `e-${i % 200}`, email: `e${i}@example.com` },
            content: { subject: `#${i}`, text: 'x' },
          }),
          send({ channel: 'sms', to: { id: `s-${i % 200}`, phone: '+447700900123' }, content: { text } }),
        ]);
      }
    })();
    const mailTimes = () => smtp.mails.map((mail) => mail.receivedAt);

    await new Promise((resolve) => setTimeout(resolve, BEFORE_MS));
    const outageStart = performance.now();
    sns.hangNext(1_000_000);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const outageEnd = performance.now();
    sns.clearPlan();
    sns.releaseHung();
    running = false;
    await load;

    const inWindow = (from: number, to: number) =>
      mailTimes().filter((t) => t >= from && t < to).length / ((to - from) / 1000);
    const before = inWindow(outageStart - BEFORE_MS + 2_000, outageStart);
    const during = inWindow(outageStart + 2_000, outageEnd);
    const ratio = during / before;
    console.log(
      `[isolation] email throughput before ${before.toFixed(1)}/s, during the SMS outage ${during.toFixed(1)}/s, ratio ${ratio.toFixed(3)}`,
    );
    expect(ratio).toBeGreaterThanOrEqual(0.9);

    await waitFor(() => new Set(sns.published.map((p) => p.message)).size === smsTexts.length, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: `all ${smsTexts.length} SMS published after recovery`,
    }).catch(async (error: unknown) => {
      const states = await service.database.pool.any(
        sql.type(z.object({ state: z.string(), n: z.number(), attempts: z.number() }))`
          SELECT state, count(*)::int AS n, max(attempts) AS attempts FROM messages WHERE channel = 'sms' GROUP BY state`,
      );
      console.log(
        '[isolation] sms by state',
        JSON.stringify(states),
        JSON.stringify(service.tree.channels.get('sms')?.stats()),
      );
      throw error;
    });
    const counts = new Map<string, number>();
    for (const published of sns.published)
      counts.set(published.message ?? '', (counts.get(published.message ?? '') ?? 0) + 1);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
    expect(new Set(counts.keys())).toEqual(new Set(smsTexts));

    await waitFor(() => smtp.mails.length >= n, { timeoutMs: 60_000, what: 'every email' });
    const mailIds = smtp.mails.map((mail) => mail.header('X-Switchboard-Message-Id'));
    expect(new Set(mailIds).size).toBe(mailIds.length);
    expect(mailIds.length).toBe(n);
  });
});
