// Email over SMTP through nodemailer's pooled transport; every mail carries X-Switchboard-Message-Id.
import { createTransport } from 'nodemailer';
import { type OutgoingMessage, type Provider, ProviderError, type SendReceipt } from '../Provider.ts';

export const MESSAGE_ID_HEADER = 'X-Switchboard-Message-Id';

export type SmtpProviderOptions = {
  /** `smtp://[user:pass@]host:port` or `smtps://…` */
  readonly url: string;
  readonly from: string;
  /** Recorded on messages; `smtp` by default. */
  readonly name?: string;
  readonly maxConnections?: number;
  readonly timeoutMs?: number;
};

type SmtpFailure = { code?: unknown; responseCode?: unknown; message?: unknown };

/** SMTP 5xx replies are permanent; 4xx replies and connection trouble are worth a retry. */
export function classifySmtpError(error: unknown): ProviderError {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as SmtpFailure;
  const responseCode = typeof failure.responseCode === 'number' ? failure.responseCode : undefined;
  const code = typeof failure.code === 'string' ? failure.code : undefined;
  const text = typeof failure.message === 'string' ? failure.message : String(error);
  if (responseCode !== undefined) {
    return new ProviderError('smtp', `SMTP ${responseCode}: ${text}`, {
      retriable: responseCode < 500,
      code: String(responseCode),
      cause: error,
    });
  }
  const permanent = code === 'EENVELOPE' || code === 'EMESSAGE' || code === 'ECONFIG' || code === 'EAUTH';
  return new ProviderError('smtp', text, { retriable: !permanent, code, cause: error });
}

export class SmtpProvider implements Provider {
  readonly name: string;
  readonly #transport: ReturnType<typeof createPoolTransport>;
  readonly #from: string;

  constructor(options: SmtpProviderOptions) {
    this.name = options.name ?? 'smtp';
    this.#from = options.from;
    this.#transport = createPoolTransport(options);
  }

  async send(message: OutgoingMessage): Promise<SendReceipt> {
    if (!message.to.email) throw new ProviderError(this.name, 'message has no email address', { retriable: false });
    try {
      const info = await this.#transport.sendMail({
        from: this.#from,
        to: message.to.email,
        subject: message.subject ?? '',
        ...(message.text !== undefined ? { text: message.text } : {}),
        ...(message.html !== undefined ? { html: message.html } : {}),
        headers: { [MESSAGE_ID_HEADER]: message.id },
      });
      const providerMessageId = (info as { messageId?: unknown }).messageId;
      return typeof providerMessageId === 'string' ? { providerMessageId } : {};
    } catch (error) {
      throw classifySmtpError(error);
    }
  }

  close(): Promise<void> {
    this.#transport.close();
    return Promise.resolve();
  }
}

function createPoolTransport(options: SmtpProviderOptions) {
  const url = new URL(options.url);
  const timeout = options.timeoutMs ?? 30_000;
  return createTransport({
    pool: true,
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 25)),
    secure: url.protocol === 'smtps:',
    maxConnections: options.maxConnections ?? 5,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    ...(url.username
      ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
      : {}),
  });
}
