// The service as a process, started the way the README starts it: an email sent over HTTP reaches a
// real SMTP server with its id header, and the embedded defaults work with no infrastructure at all.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { type ServiceProcess, startService } from '../support/serviceProcess.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtpServer.ts';
import { waitFor } from '../support/waitFor.ts';

type MessageView = { status: string; provider: string | null; transitions: Array<{ state: string }> };

async function sendEmail(base: string, key: string, body: Record<string, unknown>) {
  const response = await fetch(`${base}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { id: string; status: string } };
}

async function waitForState(base: string, key: string, id: string, state: string): Promise<MessageView> {
  return waitFor(
    async () => {
      const view = (await (
        await fetch(`${base}/v1/messages/${id}`, { headers: { authorization: `Bearer ${key}` } })
      ).json()) as MessageView;
      return view.status === state && view;
    },
    { what: `message ${id} to reach ${state}` },
  );
}

describe('switchboard serve with PostgreSQL and SMTP', () => {
  const key = 'e2e-api-key-0123456789';
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let dataDir: string;
  let service: ServiceProcess;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    smtp = await startSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-e2e-'));
    service = startService({
      PORT: '0',
      DATABASE_URL: db.url,
      SMTP_URL: smtp.url,
      SWITCHBOARD_API_KEYS: key,
      SWITCHBOARD_DATA_DIR: dataDir,
    });
    base = `http://127.0.0.1:${await service.ready()}`;
  });

  afterAll(async () => {
    await service?.stop();
    await smtp?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('delivers an email over SMTP with X-Switchboard-Message-Id and the body sent', async () => {
    const sent = await sendEmail(base, key, {
      channel: 'email',
      idempotencyKey: 'welcome-ada',
      to: { id: 'user-ada', email: 'ada@example.com' },
      content: {
        subject: 'Welcome, Ada',
        text: 'Your account is ready.',
        html: '<p>Your account is ready.</p>',
      },
    });
    expect(sent.status).toBe(202);
    const mail = await waitFor(() => smtp.mails.find((m) => m.header('X-Switchboard-Message-Id') === sent.body.id), {
      what: 'the mail',
    });
    expect(mail.envelopeTo).toEqual(['ada@example.com']);
    expect(mail.parsed.subject).toBe('Welcome, Ada');
    expect(mail.parsed.text?.trim()).toBe('Your account is ready.');
    expect(mail.parsed.html).toContain('<p>Your account is ready.</p>');
    const view = await waitForState(base, key, sent.body.id, 'sent');
    expect(view.provider).toBe('smtp-primary');
  });

  it('exits 0 on SIGTERM after draining', async () => {
    expect(await service.stop()).toBe(0);
    expect(service.stdout.join('\n')).toContain('switchboard stopped');
  });
});

describe('switchboard serve with no infrastructure (embedded defaults)', () => {
  let workDir: string;
  let service: ServiceProcess;

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'sb-e2e-embedded-'));
  });

  afterAll(async () => {
    await service?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  it('starts on PGlite, prints a generated API key once, and delivers to the dev outbox', async () => {
    service = startService({ PORT: '0' }, workDir);
    const started = Date.now();
    const base = `http://127.0.0.1:${await service.ready()}`;
    expect(Date.now() - started).toBeLessThan(10_000);
    const announcement = service.stdout.find((line) => /generated API key sb_/.test(line));
    const key = /generated API key (sb_\S+)/.exec(announcement ?? '')?.[1];
    expect(key).toBeDefined();
    expect((await readFile(path.join(workDir, '.switchboard', 'api-key'), 'utf8')).trim()).toBe(key);
    const startLog = service.stdout.find((line) => line.includes('"switchboard starting"')) ?? '';
    expect(startLog).toContain('embedded PGlite');
    expect(startLog).toContain('dev outbox');

    const sent = await sendEmail(base, key ?? '', {
      channel: 'email',
      to: { id: 'user-1', email: 'newcomer@example.com' },
      content: { subject: 'First send', text: 'It works.' },
    });
    expect(sent.status).toBe(202);
    const view = await waitForState(base, key ?? '', sent.body.id, 'sent');
    expect(view.provider).toBe('dev-outbox');
    const stored = JSON.parse(
      await readFile(path.join(workDir, '.switchboard', 'outbox', `${sent.body.id}.json`), 'utf8'),
    ) as {
      subject: string;
      to: { email: string };
    };
    expect(stored.subject).toBe('First send');
    expect(stored.to.email).toBe('newcomer@example.com');

    expect(await service.stop()).toBe(0);
    const restarted = startService({ PORT: '0' }, workDir);
    try {
      await restarted.ready();
      expect(restarted.stdout.some((line) => /generated API key sb_/.test(line))).toBe(false);
      expect(restarted.stdout.join('\n')).toContain('using the generated API key from the data directory');
    } finally {
      await restarted.stop();
    }
  });
});

describe('switchboard serve with bad configuration', () => {
  it('exits non-zero with one readable line when the database cannot be reached', async () => {
    const service = startService({ PORT: '0', DATABASE_URL: 'postgres://nowhere:1/x' });
    const code = await service.exited;
    expect(code).not.toBe(0);
    expect(service.stderr).toHaveLength(1);
    expect(service.stderr[0]).toMatch(/^switchboard: cannot reach the database at nowhere:1\/x .*DATABASE_URL/);
  });

  it('exits 2 naming the variable when a value is invalid', async () => {
    const service = startService({ PORT: 'eighty' });
    expect(await service.exited).toBe(2);
    expect(service.stderr).toEqual([
      expect.stringMatching(/^switchboard: invalid configuration: PORT: expected a TCP port number/),
    ]);
  });
});
