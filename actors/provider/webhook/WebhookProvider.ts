// Webhooks: the message as a JSON POST to `to.url`, signed with HMAC-SHA256 over the exact body
// bytes, through Node's fetch, with a deadline and redirects refused.
import { type OutgoingMessage, type Provider, ProviderError, type SendReceipt } from '../Provider.ts';
import { classifyWebhookError, classifyWebhookResponse } from './classifyWebhookResponse.ts';
import { MESSAGE_ID_HEADER, SIGNATURE_HEADER, signBody } from './webhookSignature.ts';

export type WebhookProviderOptions = {
  /** Shared with receivers; signs every body. */
  readonly secret: string;
  /** Deadline for the whole exchange, connecting through reading a refusal. Default 10 s. */
  readonly timeoutMs?: number;
  /** Recorded on messages; default `webhook`. */
  readonly name?: string;
  /** A fixed endpoint (a vendor's API) for every message; without it, each message's `to.url`. */
  readonly url?: string;
  /** Milliseconds since the epoch, for HTTP-date `Retry-After`; default `Date.now`. */
  readonly now?: () => number;
};

/** The JSON document a receiver gets. */
export type WebhookPayload = Pick<OutgoingMessage, 'id' | 'channel' | 'to' | 'subject' | 'text' | 'html' | 'metadata'>;

const DEFAULT_TIMEOUT_MS = 10_000;
const DETAIL_BYTES = 512;

export class WebhookProvider implements Provider {
  readonly name: string;
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  readonly #fixedUrl: string | undefined;

  constructor(options: WebhookProviderOptions) {
    if (options.secret === '') throw new TypeError('WebhookProvider needs a non-empty signing secret');
    this.name = options.name ?? 'webhook';
    this.#secret = options.secret;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
    this.#fixedUrl = options.url;
  }

  /** POSTs the message; a 2xx answer is delivery. */
  async send(message: OutgoingMessage): Promise<SendReceipt> {
    if (this.#closing !== undefined) {
      throw new ProviderError(this.name, 'provider is closed', { retriable: true, code: 'ECLOSED' });
    }
    const url = this.#target(message);
    const attempt = this.#post(url, message);
    this.#inFlight.add(attempt);
    try {
      return await attempt;
    } finally {
      this.#inFlight.delete(attempt);
    }
  }

  /** Lets requests in flight finish (each is bounded by the timeout). */
  close(): Promise<void> {
    this.#closing ??= Promise.allSettled([...this.#inFlight]).then(() => undefined);
    return this.#closing;
  }

  async #post(url: URL, message: OutgoingMessage): Promise<SendReceipt> {
    const payload: WebhookPayload = {
      id: message.id,
      channel: message.channel,
      to: message.to,
      subject: message.subject,
      text: message.text,
      html: message.html,
      metadata: message.metadata,
    };
    // Signed and sent as the same bytes, so the receiver can check what it got.
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          [SIGNATURE_HEADER]: signBody(body, this.#secret),
          [MESSAGE_ID_HEADER]: message.id,
        },
        body,
        redirect: 'manual',
        signal,
      });
    } catch (error) {
      throw classifyWebhookError(error, this.name);
    }
    const ok = response.status >= 200 && response.status < 300;
    // The body is read (a little) only to explain a refusal; otherwise it is released at once so
    // the connection goes back to the pool.
    const detail = ok ? await discard(response) : await readDetail(response);
    const verdict = classifyWebhookResponse(response, { provider: this.name, now: this.#now(), detail });
    if (!verdict.ok) throw verdict.error;
    return {};
  }

  #target(message: OutgoingMessage): URL {
    const raw = this.#fixedUrl ?? message.to.url;
    if (!raw) throw new ProviderError(this.name, 'message has no webhook URL', { retriable: false });
    const url = URL.parse(raw);
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new ProviderError(this.name, `webhook URL is not an http(s) URL: ${raw}`, { retriable: false });
    }
    return url;
  }
}

async function discard(response: Response): Promise<undefined> {
  // A receiver that streams a body we do not want must not turn a delivery into a failure.
  await response.body?.cancel().catch(() => undefined);
  return undefined;
}

async function readDetail(response: Response): Promise<string | undefined> {
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = response.body?.getReader();
  if (reader === undefined) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  let unreadable = false;
  try {
    while (size < DETAIL_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // The status already decides the outcome; a body that fails mid-read only loses the explanation.
    unreadable = true;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).toString('utf8').slice(0, DETAIL_BYTES).trim();
  if (text === '') return unreadable ? '(body unreadable)' : undefined;
  return text;
}
