// Per-recipient policy in a service started in-process on PostgreSQL and a real SMTP server: the
// suppression list API, frequency caps, content dedupe, quiet hours (held, not suppressed), sendAt
// (durable: delivered once across a restart).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_ID_HEADER } from '../../actors/provider/smtp/SmtpProvider.ts';
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { quietHoursEnd } from '../../runtime/policy/quietHours.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtpServer.ts';
import { waitFor } from '../support/waitFor.ts';

const API_KEY = 'policy-api-key-0123456789';
const QUIET = { start: 21 * 60, end: 8 * 60 };

/** A fixed-offset zone where the local hour is now `hour` (Etc/GMT-3 is UTC+3). */
function zoneAtLocalHour(hour: number): string {
  let offset = hour - new Date().getUTCHours();
  if (offset > 14) offset -= 24;
  if (offset < -12) offset += 24;
  return offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

type MessageView = {
  id: string;
  status: string;
  lastError: string | null;
  sendAt: string | null;
  transitions: Array<{ state: string; at: string; detail: string | null }>;
};

function client(base: () => string) {
  const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
  return {
    request: (method: string, route: string, body?: unknown) =>
      fetch(`${base()}${route}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }),
    async send(body: Record<string, unknown>): Promise<string> {
      const response = await fetch(`${base()}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body) });
      expect(response.status).toBe(202);
      return ((await response.json()) as { id: string }).id;
    },
    async view(id: string): Promise<MessageView> {
      return (await (await fetch(`${base()}/v1/messages/${id}`, { headers })).json()) as MessageView;
    },
    async settled(id: string, states: readonly string[] = ['sent', 'suppressed']): Promise<MessageView> {
      return waitFor(
        async () => {
          const view = (await (await fetch(`${base()}/v1/messages/${id}`, { headers })).json()) as MessageView;
          return states.includes(view.status) && view;
        },
        { what: `message ${id} to reach ${states.join(' or ')}` },
      );
    },
  };
}

const email = (recipient: string, text: string, more: Record<string, unknown> = {}) => ({
  channel: 'email',
  to: { id: recipient, email: `${recipient}@example.com` },
  content: { subject: 'Hello', text },
  ...more,
});

describe('recipient policy', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let dataDir: string;
  let service: Switchboard;
  let base = '';
  const api = client(() => base);
  const mailsFor = (id: string) => smtp.mails.filter((mail) => mail.header(MESSAGE_ID_HEADER) === id);

  beforeAll(async () => {
    db = await createTestDatabase();
    smtp = await startSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-policy-'));
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      SMTP_URL: smtp.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: API_KEY,
      SWITCHBOARD_FREQUENCY_CAPS: JSON.stringify({ marketing: { email: { max: 3, windowMs: 86_400_000 } } }),
      SWITCHBOARD_QUIET_HOURS: '21:00-08:00',
      // Recipients without a zone of their own are at midday, away from quiet hours, whenever this runs.
      SWITCHBOARD_DEFAULT_TIME_ZONE: zoneAtLocalHour(13),
    });
    service = await Switchboard.start({
      config,
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error' }),
    });
    base = `http://127.0.0.1:${service.port}`;
  });

  afterAll(async () => {
    await service?.stop();
    await smtp?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('suppresses a recipient on the list with its reason, and delivers again once removed', async () => {
    const added = await api.request('POST', '/v1/suppressions', { recipientId: 'grace', reason: 'unsubscribed' });
    expect(added.status).toBe(201);
    expect(await added.json()).toMatchObject({ recipientId: 'grace', channel: null, reason: 'unsubscribed' });
    const onSms = await api.request('POST', '/v1/suppressions', { recipientId: 'grace', channel: 'sms' });
    expect(onSms.status).toBe(201);

    const listed = (await (await api.request('GET', '/v1/suppressions?recipientId=grace')).json()) as {
      suppressions: Array<{ channel: string | null }>;
    };
    expect(listed.suppressions.map((entry) => entry.channel).sort()).toEqual([null, 'sms'].sort());

    const refused = await api.settled(await api.send(email('grace', 'first')));
    expect(refused).toMatchObject({ status: 'suppressed', lastError: 'suppressed: unsubscribed' });
    expect(refused.transitions.map((t) => t.state)).toEqual(['accepted', 'suppressed']);

    // The recipient's actor is live now: the removal reaches it before the next message.
    expect(service.tree.recipients.isLive('default:grace')).toBe(true);
    const removed = await api.request('DELETE', '/v1/suppressions?recipientId=grace');
    expect(removed.status).toBe(204);
    const delivered = await api.settled(await api.send(email('grace', 'second')));
    expect(delivered.status).toBe('sent');
    expect(mailsFor(delivered.id)).toHaveLength(1);

    // Removal with the keys in a JSON body; removing what is not there is a 404 problem.
    const again = await api.request('DELETE', '/v1/suppressions', { recipientId: 'grace', channel: 'sms' });
    expect(again.status).toBe(204);
    const missing = await api.request('DELETE', '/v1/suppressions', { recipientId: 'grace', channel: 'sms' });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(await (await api.request('GET', '/v1/suppressions?recipientId=grace')).json()).toEqual({
      suppressions: [],
    });
    const invalid = await api.request('POST', '/v1/suppressions', { recipientId: 'x', channel: 'fax' });
    expect(invalid.status).toBe(400);
    const noKeys = await fetch(`${base}/v1/suppressions`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(noKeys.status).toBe(400);
    expect(await noKeys.json()).toMatchObject({ errors: [{ path: 'recipientId' }] });
  });

  it('suppresses a recipient added while its actor is passivated (it reloads its list)', async () => {
    const first = await api.settled(await api.send(email('hopper', 'before')));
    expect(first.status).toBe('sent');
    await service.tree.recipients.passivate('default:hopper');
    expect(service.tree.recipients.isLive('default:hopper')).toBe(false);
    expect((await api.request('POST', '/v1/suppressions', { recipientId: 'hopper', channel: 'email' })).status).toBe(
      201,
    );
    expect(await api.settled(await api.send(email('hopper', 'after')))).toMatchObject({
      status: 'suppressed',
      lastError: 'suppressed: on the suppression list',
    });
  });

  it('caps marketing emails at 3 per 24h; transactional ones are not capped', async () => {
    const states: string[] = [];
    const last: MessageView[] = [];
    for (let i = 1; i <= 4; i++) {
      const view = await api.settled(await api.send(email('lovelace', `offer ${i}`, { priority: 'marketing' })));
      states.push(view.status);
      last.push(view);
    }
    expect(states).toEqual(['sent', 'sent', 'sent', 'suppressed']);
    expect(last[3]?.lastError).toBe('frequency cap: 3 marketing emails per 24h');
    for (let i = 1; i <= 4; i++) {
      expect((await api.settled(await api.send(email('lovelace', `receipt ${i}`)))).status).toBe('sent');
    }
  });

  it('suppresses the same content to the same address within 10 minutes', async () => {
    const first = await api.settled(await api.send(email('turing', 'Your order has shipped')));
    const second = await api.settled(await api.send(email('turing', 'Your order has shipped')));
    const other = await api.settled(await api.send(email('turing', 'Your order has arrived')));
    expect(first.status).toBe('sent');
    expect(second).toMatchObject({ status: 'suppressed', lastError: 'duplicate content within 10 minutes' });
    expect(other.status).toBe('sent');
    expect(mailsFor(second.id)).toHaveLength(0);
  });

  it('holds marketing in the recipient’s quiet hours (accepted, sendAt at their end) and lets transactional go', async () => {
    const night = zoneAtLocalHour(1);
    const to = { id: 'knuth', email: 'knuth@example.com', timeZone: night };
    const marketing = await api.send({ ...email('knuth', 'Sale tonight'), to, priority: 'marketing' });
    const transactional = await api.send({ ...email('knuth', 'Your password was changed'), to });
    expect((await api.settled(transactional)).status).toBe('sent');

    const held = await waitFor(async () => {
      const view = await api.view(marketing);
      return view.sendAt !== null && view;
    });
    const end = quietHoursEnd(QUIET, night, Date.now());
    expect(end).not.toBeNull();
    expect(held.status).toBe('accepted');
    expect(held.sendAt).toBe(new Date(end ?? 0).toISOString());
    expect(held.transitions.map((t) => t.state)).toEqual(['accepted', 'accepted']);
    expect(held.transitions[1]?.detail).toBe(`held for quiet hours until ${held.sendAt}`);
    expect(mailsFor(marketing)).toHaveLength(0);
  });

  it('sends a scheduled message at its sendAt, not before', async () => {
    const sendAt = Date.now() + 2_000;
    const id = await api.send(email('hamilton', 'See you at 3', { sendAt: new Date(sendAt).toISOString() }));
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await api.view(id)).toMatchObject({ status: 'accepted', sendAt: new Date(sendAt).toISOString() });
    expect(mailsFor(id)).toHaveLength(0);

    const sent = await api.settled(id, ['sent']);
    const queuedAt = Date.parse(sent.transitions.find((t) => t.state === 'queued')?.at ?? '');
    expect(queuedAt).toBeGreaterThanOrEqual(sendAt);
    expect(queuedAt - sendAt).toBeLessThan(5_000);
    expect(mailsFor(id)).toHaveLength(1);
  });
});

describe('a scheduled send across a restart', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let dataDir: string;
  let service: Switchboard | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    smtp = await startSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-schedule-'));
  });

  afterAll(async () => {
    await service?.stop();
    await smtp?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = () =>
    Switchboard.start({
      config: loadConfig({
        PORT: '0',
        DATABASE_URL: db.url,
        SMTP_URL: smtp.url,
        SWITCHBOARD_DATA_DIR: dataDir,
        SWITCHBOARD_API_KEYS: API_KEY,
      }),
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error' }),
    });

  it('is delivered once by the next process when the first stopped before it was due', async () => {
    const first = await start();
    service = first;
    let base = `http://127.0.0.1:${first.port}`;
    const api = client(() => base);
    const sendAt = Date.now() + 3_000;
    const id = await api.send(email('noether', 'Reminder', { sendAt: new Date(sendAt).toISOString() }));
    expect((await api.view(id)).status).toBe('accepted');
    await first.stop();
    service = undefined;
    expect(Date.now()).toBeLessThan(sendAt);

    const second = await start();
    service = second;
    base = `http://127.0.0.1:${second.port}`;
    const sent = await api.settled(id, ['sent']);
    expect(Date.parse(sent.transitions.find((t) => t.state === 'queued')?.at ?? '')).toBeGreaterThanOrEqual(sendAt);
    expect(sent.transitions.map((t) => t.state)).toEqual(['accepted', 'queued', 'sending', 'sent']);
    // Give a second scheduler tick and a backlog sweep the chance to send it again: they must not.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(smtp.mails.filter((mail) => mail.header(MESSAGE_ID_HEADER) === id)).toHaveLength(1);
  });
});
