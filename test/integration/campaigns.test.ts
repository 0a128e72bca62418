// Campaigns on a running service against a real S3 server (s3rver), SMTP server and PostgreSQL: a
// 50,000-recipient audience mailed exactly once each, pause / resume / cancel at a paced rate,
// malformed lines reported by number, a missing audience object refused at creation, and a running
// campaign resumed by itself after a restart.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../../runtime/config/loadConfig.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { type CountingSmtpServer, startCountingSmtpServer } from '../support/countingSmtpServer.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { type S3TestServer, startS3Server } from '../support/s3Server.ts';
import { waitFor } from '../support/waitFor.ts';

const KEY = 'campaigns-api-key-0123456';
const BUCKET = 'audiences';

type View = {
  id: string;
  status: string;
  done: boolean;
  counts: Record<string, number>;
  malformedLines: Array<{ line: number; reason: string }>;
  audience: { complete: boolean; read: number; size: number | null };
  eta: string | null;
};

describe('campaigns', () => {
  let db: TestDatabase;
  let s3: S3TestServer;
  let smtp: CountingSmtpServer;
  let dataDir: string;
  let config: Config;
  let service: Switchboard;
  let base: string;
  const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    db = await createTestDatabase();
    s3 = await startS3Server();
    await s3.client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    smtp = await startCountingSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-campaigns-'));
    // The service's S3 client takes its credentials from the SDK's default chain.
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    config = loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: KEY,
      SWITCHBOARD_PROVIDERS: JSON.stringify({
        email: [
          {
            name: 'smtp',
            type: 'smtp',
            url: smtp.url,
            rate: { perSecond: 20_000, burst: 1_000 },
            window: 64,
            connections: 16,
          },
        ],
      }),
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      SWITCHBOARD_CAMPAIGN_SNAPSHOT_EVERY: '500',
    });
    service = await Switchboard.start({
      config,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error' }),
    });
    base = `http://127.0.0.1:${service.port}`;
  });

  afterAll(async () => {
    await service?.stop(5_000);
    await smtp?.close();
    await s3?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
    process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
    process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  });

  const api = (method: string, route: string, body?: unknown) =>
    fetch(`${base}/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const view = async (id: string): Promise<View> => (await (await api('GET', `/campaigns/${id}`)).json()) as View;
  const put = (key: string, body: string) =>
    s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  const ndjson = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) =>
      JSON.stringify({ id: `${prefix}-${i}`, email: `${prefix}-${i}@example.com` }),
    ).join('\n');
  const mailsTo = (prefix: string) => [...smtp.byRecipient].filter(([address]) => address.startsWith(`${prefix}-`));

  it('mails each of 50,000 recipients exactly once', { timeout: 300_000 }, async () => {
    await put('big.ndjson', `${ndjson('big', 50_000)}\n`);
    const created = await api('POST', '/campaigns', {
      id: 'big',
      name: 'Spring sale',
      channel: 'email',
      content: { subject: 'Spring', text: 'Hello' },
      audience: `s3://${BUCKET}/big.ndjson`,
      start: true,
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/v1/campaigns/big');
    const final = await waitFor(
      async () => {
        const current = await view('big');
        return current.done ? current : null;
      },
      { timeoutMs: 280_000, intervalMs: 500, what: 'the 50,000-recipient campaign to finish' },
    );
    expect(final.status).toBe('completed');
    expect(final.counts).toMatchObject({
      targeted: 50_000,
      accepted: 50_000,
      sent: 50_000,
      remaining: 0,
      malformed: 0,
    });
    expect(final.audience.complete).toBe(true);
    const mailed = mailsTo('big');
    expect(mailed).toHaveLength(50_000);
    expect(mailed.filter(([, count]) => count !== 1)).toEqual([]);
  });

  it('pauses within a second, resumes, and cancels', { timeout: 120_000 }, async () => {
    await put('paced.ndjson', ndjson('paced', 3_000));
    const created = await api('POST', '/campaigns', {
      id: 'paced',
      name: 'Paced',
      channel: 'email',
      content: { subject: 'Paced', text: 'Hello' },
      audience: { url: `s3://${BUCKET}/paced.ndjson`, format: 'ndjson' },
      ratePerSecond: 200,
    });
    expect(((await created.json()) as View).status).toBe('draft');
    expect(mailsTo('paced')).toHaveLength(0);

    expect((await api('POST', '/campaigns/paced/start')).status).toBe(200);
    await waitFor(() => mailsTo('paced').length >= 300, { timeoutMs: 60_000, what: '300 paced mails' });
    const paused = await api('POST', '/campaigns/paced/pause');
    expect(((await paused.json()) as View).status).toBe('paused');
    const pausedAt = Date.now();
    // Whatever was accepted before the pause may still be in delivery for a moment; after a second, nothing new.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, pausedAt + 1_000 - Date.now())));
    const afterOneSecond = mailsTo('paced').length;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(mailsTo('paced').length).toBe(afterOneSecond);
    expect(afterOneSecond).toBeLessThan(3_000);
    const whilePaused = await view('paced');
    expect(whilePaused).toMatchObject({ status: 'paused', eta: null });
    expect(whilePaused.counts.targeted).toBeLessThan(3_000);

    expect((await api('POST', '/campaigns/paced/resume')).status).toBe(200);
    await waitFor(() => mailsTo('paced').length >= afterOneSecond + 200, {
      timeoutMs: 60_000,
      what: 'mails after resume',
    });
    const running = await view('paced');
    expect(running.status).toBe('running');
    expect(running.eta).not.toBeNull();

    const cancelled = await api('POST', '/campaigns/paced/cancel');
    expect(((await cancelled.json()) as View).status).toBe('cancelled');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const afterCancel = mailsTo('paced').length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(mailsTo('paced').length).toBe(afterCancel);
    expect(afterCancel).toBeLessThan(3_000);
    const final = await view('paced');
    expect(final.status).toBe('cancelled');
    expect(final.counts.targeted).toBe(final.counts.accepted);
    expect(mailsTo('paced').every(([, count]) => count === 1)).toBe(true);

    const again = await api('POST', '/campaigns/paced/resume');
    expect(again.status).toBe(409);
    expect(((await again.json()) as { campaignStatus: string }).campaignStatus).toBe('cancelled');
  });

  it('reports malformed lines by number and sends the rest', async () => {
    const csv = [
      'id,email,first_name',
      'm-1,m-1@example.com,Ann',
      'm-2,m-2@example.com',
      'm-3,not-an-email,Cy',
      'm-4,,Dee',
      'm-5,m-5@example.com,"Eve"',
    ].join('\n');
    await put('mixed.csv', csv);
    const created = await api('POST', '/campaigns', {
      id: 'mixed',
      name: 'Mixed',
      channel: 'email',
      content: { subject: 'Mixed', text: 'Hello' },
      audience: `s3://${BUCKET}/mixed.csv`,
      start: true,
    });
    expect(created.status).toBe(201);
    const final = await waitFor(
      async () => {
        const current = await view('mixed');
        return current.done ? current : null;
      },
      { what: 'the mixed campaign to finish' },
    );
    expect(final.counts).toMatchObject({ targeted: 2, sent: 2, malformed: 3, remaining: 0 });
    expect(final.malformedLines.map((entry) => entry.line)).toEqual([3, 4, 5]);
    expect(final.malformedLines[0]?.reason).toBe('2 fields where the header has 3');
    expect(final.malformedLines[1]?.reason).toMatch(/^email:/);
    expect(final.malformedLines[2]?.reason).toBe('email: required for channel email');
    expect(
      mailsTo('m')
        .map(([address]) => address)
        .sort(),
    ).toEqual(['m-1@example.com', 'm-5@example.com']);
  });

  it('refuses a campaign whose audience object does not exist', async () => {
    const response = await api('POST', '/campaigns', {
      name: 'Nowhere',
      channel: 'email',
      content: { text: 'Hello' },
      audience: `s3://${BUCKET}/missing.ndjson`,
    });
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await response.json()) as { detail: string; type: string };
    expect(problem.type).toMatch(/audience-not-found$/);
    expect(problem.detail).toContain(`s3://${BUCKET}/missing.ndjson`);
    const invalid = await api('POST', '/campaigns', { name: 'x', channel: 'email', audience: [{ id: 'a' }] });
    expect(invalid.status).toBe(400);
  });

  it('sends an inline audience with per-recipient template variables', async () => {
    const template = await api('POST', '/templates', {
      id: 'greeting',
      subject: 'Hi {{ first }}',
      text: 'Hello {{ first }}, from {{ shop }}',
    });
    expect(template.status).toBe(201);
    const created = await api('POST', '/campaigns', {
      id: 'inline',
      name: 'Inline',
      channel: 'email',
      template: { id: 'greeting', vars: { shop: 'Corner' } },
      audience: [
        { id: 'i-1', email: 'i-1@example.com', vars: { first: 'Ann' } },
        { id: 'i-2', email: 'i-2@example.com', vars: { first: 'Bo' } },
      ],
      start: true,
    });
    expect(created.status).toBe(201);
    await waitFor(async () => (await view('inline')).done, { what: 'the inline campaign to finish' });
    expect(mailsTo('i').length).toBe(2);
    const list = (await (await api('GET', '/campaigns')).json()) as { campaigns: Array<{ id: string }> };
    expect(list.campaigns.map((c) => c.id)).toContain('inline');
  });

  it('resumes a running campaign by itself after a restart', { timeout: 120_000 }, async () => {
    await put('restart.ndjson', ndjson('restart', 4_000));
    await api('POST', '/campaigns', {
      id: 'restart',
      name: 'Restart',
      channel: 'email',
      content: { subject: 'Restart', text: 'Hello' },
      audience: `s3://${BUCKET}/restart.ndjson`,
      ratePerSecond: 500,
      start: true,
    });
    await waitFor(() => mailsTo('restart').length >= 500, { timeoutMs: 60_000, what: '500 mails before the restart' });
    await service.stop(5_000);
    const stoppedAt = mailsTo('restart').length;
    expect(stoppedAt).toBeLessThan(4_000);
    service = await Switchboard.start({
      config,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error' }),
    });
    base = `http://127.0.0.1:${service.port}`;
    const final = await waitFor(
      async () => {
        const current = await view('restart');
        return current.done ? current : null;
      },
      { timeoutMs: 100_000, intervalMs: 250, what: 'the campaign to finish after the restart' },
    );
    expect(final.counts).toMatchObject({ targeted: 4_000, sent: 4_000 });
    const mailed = mailsTo('restart');
    expect(mailed).toHaveLength(4_000);
    expect(mailed.filter(([, count]) => count !== 1)).toEqual([]);
  });
});
