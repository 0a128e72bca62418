// The HTTP API of a service started in-process on PostgreSQL and a real SMTP server: auth, problem
// documents, body limits, acceptance with idempotency, and a message reaching `sent`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_ID_HEADER } from '../../actors/provider/smtp/SmtpProvider.ts';
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtpServer.ts';
import { waitFor } from '../support/waitFor.ts';

const API_KEY = 'test-api-key-0123456789';
const OPERATOR_TOKEN = 'test-operator-token-0123';

describe('HTTP API', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let dataDir: string;
  let service: Switchboard;
  let base: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    smtp = await startSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-http-'));
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      SMTP_URL: smtp.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: API_KEY,
      SWITCHBOARD_OPERATOR_TOKEN: OPERATOR_TOKEN,
      SWITCHBOARD_MAX_BODY_BYTES: '4096',
      SWITCHBOARD_LOG_LEVEL: 'debug',
    });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logLines.push(chunk.toString());
        callback();
      },
    });
    service = await Switchboard.start({ config, logger: createLogger({ level: 'debug', destination }) });
    base = `http://127.0.0.1:${service.port}`;
  });

  afterAll(async () => {
    await service?.stop();
    await smtp?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const email = (overrides: Record<string, unknown> = {}) => ({
    channel: 'email',
    to: { id: 'user-42', email: 'user42@example.com' },
    content: { subject: 'Your code', text: 'Code 1234' },
    ...overrides,
  });

  it('reports health and readiness', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { store: 'up', actors: 'ok' } });
  });

  it('answers 401 problem documents without a valid key', async () => {
    const none = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toBe('application/problem+json');
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await post(email(), { authorization: 'Bearer not-a-key' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({
      status: 401,
      title: 'Unauthorized',
      instance: '/v1/messages',
    });
  });

  it('answers 400 with the invalid fields', async () => {
    const response = await post({ channel: 'email', to: { id: 'x' } });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { errors: Array<{ path: string }>; type: string };
    expect(problem.type).toMatch(/invalid-message$/);
    expect(problem.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['to.email', 'content']));
  });

  it('answers 400 for malformed JSON and 415 for another media type', async () => {
    expect((await post('{"channel":')).status).toBe(400);
    expect((await post('channel=email', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
  });

  it('answers 413 past the body limit', async () => {
    const response = await post(email({ content: { text: 'x'.repeat(8_000) } }));
    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers 404 problems for unknown routes and messages', async () => {
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    const missing = await fetch(`${base}/v1/messages/0b6f1a4e-8a0c-4c61-9b57-3f3c2b7b1e2a`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
  });

  it('accepts an email (202), delivers it over SMTP with its id header, and shows it sent', async () => {
    const response = await post(email({ idempotencyKey: 'otp-1' }));
    expect(response.status).toBe(202);
    const { id, status } = (await response.json()) as { id: string; status: string };
    expect(status).toBe('accepted');
    expect(response.headers.get('location')).toBe(`/v1/messages/${id}`);

    const mail = await waitFor(() => smtp.mails.find((m) => m.header(MESSAGE_ID_HEADER) === id), {
      what: 'the mail',
    });
    expect(mail.parsed.subject).toBe('Your code');
    expect(mail.envelopeTo).toEqual(['user42@example.com']);

    const view = await waitFor(
      async () => {
        const body = (await (
          await fetch(`${base}/v1/messages/${id}`, { headers: { authorization: `Bearer ${API_KEY}` } })
        ).json()) as {
          status: string;
          provider: string;
          attempts: number;
          transitions: Array<{ state: string }>;
        };
        return body.status === 'sent' && body;
      },
      { what: 'state sent' },
    );
    expect(view.provider).toBe('smtp-primary');
    expect(view.attempts).toBe(1);
    expect(view.transitions.map((t) => t.state)).toEqual(['accepted', 'queued', 'sending', 'sent']);

    const again = await post(email({ idempotencyKey: 'otp-1' }));
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(id);
    expect(smtp.mails.filter((m) => m.header(MESSAGE_ID_HEADER) === id)).toHaveLength(1);
  });

  it('records a permanent SMTP refusal as failed with its reason', async () => {
    smtp.rejectRecipientsWith(550);
    try {
      const { id } = (await (await post(email({ to: { id: 'user-43', email: 'nobody@example.com' } }))).json()) as {
        id: string;
      };
      const view = await waitFor(
        async () => {
          const body = (await (
            await fetch(`${base}/v1/messages/${id}`, { headers: { authorization: `Bearer ${API_KEY}` } })
          ).json()) as {
            status: string;
            lastError: string;
          };
          return body.status === 'failed' && body;
        },
        { what: 'state failed' },
      );
      expect(view.lastError).toContain('550');
    } finally {
      smtp.rejectRecipientsWith(null);
    }
  });

  it('renders a stored template per recipient, and fails a message whose variable is missing', async () => {
    const created = await fetch(`${base}/v1/templates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'welcome',
        channel: 'email',
        subject: 'Welcome, {{ name }}',
        text: 'Hi {{ name }}, your plan is {{ plan }}.',
      }),
    });
    expect(created.status).toBe(201);
    const rendered = await post(
      email({ content: undefined, template: { id: 'welcome', vars: { name: 'Ada', plan: 'pro' } } }),
    );
    expect(rendered.status).toBe(202);
    const { id } = (await rendered.json()) as { id: string };
    const mail = await waitFor(() => smtp.mails.find((m) => m.header(MESSAGE_ID_HEADER) === id), {
      what: 'the rendered mail',
    });
    expect(mail.parsed.subject).toBe('Welcome, Ada');
    expect(mail.parsed.text?.trim()).toBe('Hi Ada, your plan is pro.');

    const missingVar = await post(email({ content: undefined, template: { id: 'welcome', vars: { name: 'Bob' } } }));
    const failedId = ((await missingVar.json()) as { id: string }).id;
    const failed = await waitFor(
      async () => {
        const body = (await (
          await fetch(`${base}/v1/messages/${failedId}`, { headers: { authorization: `Bearer ${API_KEY}` } })
        ).json()) as {
          status: string;
          lastError: string;
          attempts: number;
        };
        return body.status === 'failed' && body;
      },
      { what: 'the message failed on its template' },
    );
    expect(failed.lastError).toContain('plan');
    expect(failed.attempts).toBe(0);

    const unknown = await post(email({ content: undefined, template: { id: 'no-such-template' } }));
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { errors: Array<{ path: string }> }).errors[0]?.path).toBe('template.id');
  });

  it('guards /ops with the operator token', async () => {
    expect((await fetch(`${base}/ops/outbox`)).status).toBe(401);
    expect((await fetch(`${base}/ops/outbox`, { headers: { authorization: `Bearer ${API_KEY}` } })).status).toBe(401);
    const ok = await fetch(`${base}/ops/outbox`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(ok.status).toBe(200);
  });

  it('never writes a recipient address or key into the log', () => {
    const log = logLines.join('');
    expect(log).toContain('switchboard ready');
    expect(log).not.toContain('user42@example.com');
    expect(log).not.toContain('nobody@example.com');
    expect(log).not.toContain(API_KEY);
  });
});
