// Channels against real SMTP servers: failover from a primary that is down to a fallback with the
// breaker visible in /ops/actors and /metrics (and closing again once the primary is back), per-channel
// push-back (HTTP 429) that leaves other channels alone, priority order, and replay of a failed message.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import type { ActorView } from '../../runtime/kernel/introspect.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtpServer.ts';
import { waitFor } from '../support/waitFor.ts';

const KEY = 'channels-api-key-012345';
const TOKEN = 'channels-operator-token';

describe('channels and provider connections', () => {
  let db: TestDatabase;
  let primary: TestSmtpServer;
  let fallback: TestSmtpServer;
  let primaryPort: number;
  let dataDir: string;
  let service: Switchboard;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    primary = await startSmtpServer();
    primaryPort = primary.port;
    fallback = await startSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-channels-'));
    const breaker = { errorThresholdPercentage: 50, resetTimeoutMs: 1_000, volumeThreshold: 2 };
    const providers = {
      email: [
        { name: 'smtp-primary', type: 'smtp', url: primary.url, timeoutMs: 3_000, breaker },
        { name: 'smtp-fallback', type: 'smtp', url: fallback.url, timeoutMs: 3_000, breaker },
      ],
      // A slow SMS provider (one message every 2 s) so its backlog builds up.
      sms: [{ name: 'slow-outbox', type: 'dev-outbox', rate: { perSecond: 0.5, burst: 1 } }],
      // Push at two a second, to watch priorities at work.
      push: [{ name: 'push-outbox', type: 'dev-outbox', rate: { perSecond: 2, burst: 1 } }],
    };
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: KEY,
      SWITCHBOARD_OPERATOR_TOKEN: TOKEN,
      SWITCHBOARD_PROVIDERS: JSON.stringify(providers),
      SWITCHBOARD_CHANNEL_BACKLOG_LIMIT: '5',
      // These sends repeat their content to one address on purpose: content dedupe is not under test.
      SWITCHBOARD_DEDUPE_WINDOW_MS: '0',
    });
    service = await Switchboard.start({
      config,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error' }),
    });
    base = `http://127.0.0.1:${service.port}`;
  });

  afterAll(async () => {
    await service?.stop(2_000);
    await primary?.close();
    await fallback?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const send = (body: Record<string, unknown>) =>
    fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const email = (n: number) => ({
    channel: 'email',
    to: { id: `e-${n}`, email: `e${n}@example.com` },
    content: { subject: `#${n}`, text: 'x' },
  });
  const view = async (id: string) =>
    (await (await fetch(`${base}/v1/messages/${id}`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as {
      status: string;
      provider: string;
      attempts: number;
      lastError: string | null;
    };
  const ops = async (route: string) =>
    (await fetch(`${base}${route}`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();

  it('fails over to the fallback when the primary is down, opens its breaker, and closes it after recovery', async () => {
    await primary.close();
    const ids: string[] = [];
    // Four: under the backlog limit of 5 that every channel has here.
    for (let n = 0; n < 4; n++) {
      const response = await send(email(n));
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { id: string }).id);
    }
    for (const id of ids) {
      const sent = await waitFor(
        async () => {
          const v = await view(id);
          return v.status === 'sent' && v;
        },
        { timeoutMs: 60_000, what: `message ${id} sent by the fallback` },
      );
      expect(sent.provider).toBe('smtp-fallback');
    }
    expect(new Set(fallback.mails.map((mail) => mail.header('X-Switchboard-Message-Id')))).toEqual(new Set(ids));

    // Nothing goes to the primary while it is down, so its breaker stays open or half-open.
    const primaryView = JSON.parse(await ops('/ops/actors/switchboard/channels/email/smtp-primary')) as ActorView;
    expect(['open', 'halfOpen']).toContain(primaryView.gauges?.breaker);
    expect(await ops('/metrics')).toMatch(
      /switchboard_provider_breaker_state\{channel="email",provider="smtp-primary"\} [12]/,
    );

    primary = await startSmtpServer({ port: primaryPort });
    await waitFor(
      async () => {
        const id = ((await (await send(email(100))).json()) as { id: string }).id;
        const delivered = await waitFor(
          async () => {
            const v = await view(id);
            return v.status === 'sent' && v;
          },
          { timeoutMs: 20_000 },
        );
        return delivered.provider === 'smtp-primary';
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the primary taking mail again' },
    );
    const recovered = JSON.parse(await ops('/ops/actors/switchboard/channels/email/smtp-primary')) as ActorView;
    expect(recovered.gauges?.breaker).toBe('closed');
    expect(await ops('/metrics')).toMatch(
      /switchboard_provider_breaker_state\{channel="email",provider="smtp-primary"\} 0/,
    );
  });

  it('pushes back only the channel over its backlog limit, with 429 and Retry-After', async () => {
    const sms = (n: number) => ({
      channel: 'sms',
      to: { id: `s-${n}`, phone: '+447700900123' },
      content: { text: `sms ${n}` },
    });
    const statuses: number[] = [];
    let pushedBack: Response | undefined;
    for (let n = 0; n < 20 && pushedBack === undefined; n++) {
      const response = await send(sms(n));
      statuses.push(response.status);
      if (response.status === 429) pushedBack = response;
    }
    expect(pushedBack?.status).toBe(429);
    expect(pushedBack?.headers.get('retry-after')).toBe('5');
    expect(pushedBack?.headers.get('content-type')).toBe('application/problem+json');
    expect(statuses.filter((status) => status === 202).length).toBeGreaterThanOrEqual(5);
    expect((await send(email(200))).status).toBe(202);
  });

  it('sends transactional messages before marketing ones', async () => {
    const push = (n: number, priority: string) => ({
      channel: 'push',
      priority,
      to: { id: `p-${n}`, pushTarget: `arn:aws:sns:eu-west-1:1:endpoint/${n}` },
      content: { text: `${priority} ${n}` },
    });
    const marketing: string[] = [];
    for (let n = 0; n < 4; n++)
      marketing.push(((await (await send(push(n, 'marketing'))).json()) as { id: string }).id);
    const urgent = ((await (await send(push(99, 'transactional'))).json()) as { id: string }).id;
    await waitFor(async () => (await view(urgent)).status === 'sent', {
      timeoutMs: 30_000,
      what: 'the transactional push',
    });
    const stillWaiting = await Promise.all(marketing.map(async (id) => (await view(id)).status !== 'sent'));
    expect(stillWaiting.filter(Boolean).length).toBeGreaterThan(0);
  });

  it('replays a failed message with POST /v1/messages/{id}/retry', async () => {
    fallback.rejectRecipientsWith(550);
    primary.rejectRecipientsWith(550);
    const id = ((await (await send(email(300))).json()) as { id: string }).id;
    const failed = await waitFor(
      async () => {
        const v = await view(id);
        return v.status === 'failed' && v;
      },
      { what: 'the message failed' },
    );
    expect(failed.lastError).toContain('550');
    primary.rejectRecipientsWith(null);
    fallback.rejectRecipientsWith(null);

    const retry = await fetch(`${base}/v1/messages/${id}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(retry.status).toBe(202);
    const sent = await waitFor(
      async () => {
        const v = await view(id);
        return v.status === 'sent' && v;
      },
      { what: 'the replayed message sent' },
    );
    // Attempts were counted afresh from the replay on.
    const detail = (await (
      await fetch(`${base}/v1/messages/${id}`, { headers: { authorization: `Bearer ${KEY}` } })
    ).json()) as {
      transitions: Array<{ state: string; attempt: number; detail: string | null }>;
    };
    const replayedAt = detail.transitions.findIndex((t) => t.detail === 'replayed by an operator');
    expect(replayedAt).toBeGreaterThan(0);
    expect(detail.transitions[replayedAt]?.attempt).toBe(0);
    expect(detail.transitions.slice(replayedAt).find((t) => t.state === 'sending')?.attempt).toBe(1);
    expect(sent.attempts).toBeGreaterThanOrEqual(1);
    const again = await fetch(`${base}/v1/messages/${id}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(again.status).toBe(409);
  });
});
