// A real SMTP server (smtp-server) on loopback that parses every mail it receives (mailparser).
import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export type ReceivedMail = {
  /** performance.now() when the mail was received. */
  readonly receivedAt: number;
  readonly envelopeTo: string[];
  readonly parsed: ParsedMail;
  header(name: string): string | undefined;
};

export type TestSmtpServer = {
  readonly port: number;
  readonly url: string;
  readonly mails: ReceivedMail[];
  /** Makes the server answer RCPT TO with this SMTP reply (e.g. 550) until reset with null. */
  rejectRecipientsWith(code: number | null): void;
  close(): Promise<void>;
};

/** Starts the server on loopback; on `port` when given (to bring a stopped server back), else any free port. */
export async function startSmtpServer(options: { port?: number } = {}): Promise<TestSmtpServer> {
  const mails: ReceivedMail[] = [];
  let rejectCode: number | null = null;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      if (rejectCode === null) return callback();
      const error = Object.assign(new Error('recipient rejected by test server'), {
        responseCode: rejectCode,
      });
      return callback(error);
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (parsed) => {
          mails.push({
            receivedAt: performance.now(),
            envelopeTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            parsed,
            header: (name) => {
              const value = parsed.headers.get(name.toLowerCase());
              return typeof value === 'string' ? value : undefined;
            },
          });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  // A client killed mid-mail resets its connection; that is the client's business, not a test failure.
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    mails,
    rejectRecipientsWith(code) {
      rejectCode = code;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
