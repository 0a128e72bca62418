// An SMTP server on loopback (smtp-server) for load and chaos tests: it keeps only what those tests
// look at — how many mails arrived per X-Switchboard-Message-Id — reading just the header block of
// each mail instead of parsing it whole, so tens of thousands cost little. A client that dies in the
// middle of a mail (a SIGKILLed service) is an expected event here, not an error: such a mail is not
// counted, exactly as a real server would not have accepted it.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export const MESSAGE_ID_HEADER = 'X-Switchboard-Message-Id';

export type CountingSmtpServer = {
  readonly port: number;
  readonly url: string;
  /** Mails accepted (answered 250) per message id. */
  readonly counts: ReadonlyMap<string, number>;
  /** Mails accepted per envelope recipient address. */
  readonly byRecipient: ReadonlyMap<string, number>;
  /** Mails accepted in all, with or without an id. */
  readonly mails: number;
  /** Mails accepted without an X-Switchboard-Message-Id header. */
  readonly withoutId: number;
  /** Mails cut off by their client before the end (not counted). */
  readonly cutOff: number;
  /** Ids accepted more than once, with how often. */
  duplicates(): Map<string, number>;
  close(): Promise<void>;
};

/** The value of `name` in a mail's header block (folded lines joined), or undefined. */
export function headerValue(headerBlock: string, name: string): string | undefined {
  const unfolded = headerBlock.replace(/\r?\n[ \t]+/g, ' ');
  const wanted = `${name.toLowerCase()}:`;
  for (const line of unfolded.split(/\r?\n/)) {
    if (line.toLowerCase().startsWith(wanted)) return line.slice(wanted.length).trim();
  }
  return undefined;
}

export async function startCountingSmtpServer(): Promise<CountingSmtpServer> {
  const counts = new Map<string, number>();
  const byRecipient = new Map<string, number>();
  let mails = 0;
  let withoutId = 0;
  let cutOff = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      let length = 0;
      let headerEnd = -1;
      stream.on('data', (chunk: Buffer) => {
        if (headerEnd >= 0) return;
        chunks.push(chunk);
        length += chunk.length;
        headerEnd = Buffer.concat(chunks, length).indexOf('\r\n\r\n');
      });
      stream.once('error', () => {
        cutOff++;
        callback(new Error('connection closed in the middle of the mail'));
      });
      stream.once('end', () => {
        const head = Buffer.concat(chunks, length).toString('utf8');
        const id = headerValue(headerEnd >= 0 ? head.slice(0, headerEnd) : head, MESSAGE_ID_HEADER);
        mails++;
        for (const rcpt of session.envelope.rcptTo) {
          byRecipient.set(rcpt.address, (byRecipient.get(rcpt.address) ?? 0) + 1);
        }
        if (id === undefined) withoutId++;
        else counts.set(id, (counts.get(id) ?? 0) + 1);
        callback();
      });
    },
  });
  // Clients that vanish mid-session (ECONNRESET, EPIPE) surface here; they are what chaos tests cause.
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    counts,
    byRecipient,
    get mails() {
      return mails;
    },
    get withoutId() {
      return withoutId;
    },
    get cutOff() {
      return cutOff;
    },
    duplicates: () => new Map([...counts].filter(([, count]) => count > 1)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
