// What a provider connection needs from a provider: send one rendered message, and say whether a
// failure is worth retrying.
import type { Channel, Priority } from '../../runtime/messages/sendRequest.ts';

/** A message ready to leave: content rendered, addressed for its channel. */
export type OutgoingMessage = {
  readonly id: string;
  readonly channel: Channel;
  readonly to: {
    readonly id: string;
    readonly email?: string;
    readonly phone?: string;
    readonly pushTarget?: string;
    readonly url?: string;
  };
  /** Transactional or marketing: SMS providers send marketing as promotional. */
  readonly priority: Priority;
  readonly subject?: string;
  readonly text?: string;
  readonly html?: string;
  readonly metadata?: Record<string, unknown> | null;
};

export type SendReceipt = { readonly providerMessageId?: string };

export interface Provider {
  /** Stable name, recorded on the message (`smtp`, `dev-outbox`). */
  readonly name: string;
  send(message: OutgoingMessage): Promise<SendReceipt>;
  close(): Promise<void>;
}

/** A provider's refusal, classified once at the adapter boundary. */
export class ProviderError extends Error {
  readonly provider: string;
  /** True for timeouts, throttling and temporary failures; false when a retry cannot succeed. */
  readonly retriable: boolean;
  /** The vendor's own code (an SMTP reply code, an errno), for operators. */
  readonly code: string | undefined;
  /** How long the provider asked us to wait before trying again (`Retry-After`), when it said. */
  readonly retryAfterMs: number | undefined;
  constructor(
    provider: string,
    message: string,
    options: { retriable: boolean; code?: string | undefined; retryAfterMs?: number | undefined; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = 'ProviderError';
    this.provider = provider;
    this.retriable = options.retriable;
    this.code = options.code;
    this.retryAfterMs = options.retryAfterMs;
  }
}
