// The backlog sweeper of a running service: a message accepted but never handed to its actor (as
// after a lost hand-off) is found in the store by age and delivered, once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { sendRequestSchema } from '../../runtime/messages/sendRequest.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtpServer.ts';
import { waitFor } from '../support/waitFor.ts';

describe('backlog sweeper', () => {
  let db: TestDatabase;
  let smtp: TestSmtpServer;
  let dataDir: string;
  let service: Switchboard;

  beforeAll(async () => {
    db = await createTestDatabase();
    smtp = await startSmtpServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-backlog-'));
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      SMTP_URL: smtp.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: 'backlog-api-key-0123456',
      SWITCHBOARD_BACKLOG_SWEEP_MS: '100',
      SWITCHBOARD_BACKLOG_AGE_MS: '300',
      // These sends repeat their content to one address on purpose: content dedupe is not under test.
      SWITCHBOARD_DEDUPE_WINDOW_MS: '0',
    });
    service = await Switchboard.start({ config, logger: createLogger({ level: 'warn' }) });
  });

  afterAll(async () => {
    await service?.stop();
    await smtp?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('delivers messages that were accepted but never handed on, exactly once', async () => {
    const request = sendRequestSchema.parse({
      channel: 'email',
      to: { id: 'orphan', email: 'orphan@example.com' },
      content: { subject: 'found again', text: 'from the backlog' },
    });
    // Accepted through the store alone: no actor hears of these messages.
    const accepted = await Promise.all(Array.from({ length: 5 }, () => service.messages.accept('default', request)));
    for (const { id } of accepted) {
      const message = await waitFor(
        async () => {
          const found = await service.messages.find('default', id);
          return found?.state === 'sent' && found;
        },
        { what: `orphan ${id} sent` },
      );
      expect(message.transitions.map((t) => t.state)).toEqual(['accepted', 'queued', 'sending', 'sent']);
    }
    await waitFor(() => smtp.mails.length >= 5, { what: 'five mails' });
    const ids = smtp.mails.map((mail) => mail.header('X-Switchboard-Message-Id'));
    expect(ids.sort()).toEqual(accepted.map((a) => a.id).sort());
  });
});
