// The SMTP provider against a real smtp-server: the header on every mail, and reply codes classified.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../actors/provider/Provider.ts';
import { MESSAGE_ID_HEADER, SmtpProvider } from '../../actors/provider/smtp/SmtpProvider.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtpServer.ts';

describe('SmtpProvider', () => {
  let smtp: TestSmtpServer;
  let provider: SmtpProvider;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    provider = new SmtpProvider({
      url: smtp.url,
      from: 'switchboard <no-reply@switchboard.test>',
      timeoutMs: 5_000,
    });
  });

  afterAll(async () => {
    await provider?.close();
    await smtp?.close();
  });

  it('delivers a mail with X-Switchboard-Message-Id, subject and body', async () => {
    await provider.send({
      id: 'msg-1',
      channel: 'email',
      priority: 'transactional',
      to: { id: 'u1', email: 'u1@example.com' },
      subject: 'Welcome',
      text: 'Hello there',
    });
    const mail = smtp.mails.at(-1);
    expect(mail?.envelopeTo).toEqual(['u1@example.com']);
    expect(mail?.header(MESSAGE_ID_HEADER)).toBe('msg-1');
    expect(mail?.parsed.subject).toBe('Welcome');
    expect(mail?.parsed.text?.trim()).toBe('Hello there');
  });

  it('reports a 550 recipient refusal as a permanent failure', async () => {
    smtp.rejectRecipientsWith(550);
    try {
      const error = await provider
        .send({
          id: 'msg-2',
          channel: 'email',
          priority: 'transactional',
          to: { id: 'u2', email: 'u2@example.com' },
          text: 'x',
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).retriable).toBe(false);
      expect((error as ProviderError).code).toBe('550');
    } finally {
      smtp.rejectRecipientsWith(null);
    }
  });

  it('reports a 451 refusal as transient', async () => {
    smtp.rejectRecipientsWith(451);
    try {
      const error = await provider
        .send({
          id: 'msg-3',
          channel: 'email',
          priority: 'transactional',
          to: { id: 'u3', email: 'u3@example.com' },
          text: 'x',
        })
        .catch((e: unknown) => e);
      expect((error as ProviderError).retriable).toBe(true);
      expect((error as ProviderError).code).toBe('451');
    } finally {
      smtp.rejectRecipientsWith(null);
    }
  });

  it('reports an unreachable server as transient', async () => {
    const closed = await startSmtpServer();
    await closed.close();
    const unreachable = new SmtpProvider({ url: closed.url, from: 'a@b.test', timeoutMs: 2_000 });
    try {
      const error = await unreachable
        .send({
          id: 'msg-4',
          channel: 'email',
          priority: 'transactional',
          to: { id: 'u4', email: 'u4@example.com' },
          text: 'x',
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).retriable).toBe(true);
    } finally {
      await unreachable.close();
    }
  });
});
