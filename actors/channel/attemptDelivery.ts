// One delivery attempt of one message: claim it (→ sending), hand it to the provider, record the
// outcome. Returns what the channel should do next; never throws for provider failures.

import type { MessageStore, StoredMessage } from '../../runtime/messages/MessageStore.ts';
import { IllegalTransitionError } from '../../runtime/messages/messageState.ts';
import { TemplateRenderError } from '../../runtime/templates/TemplateError.ts';
import type { TemplateStore } from '../../runtime/templates/TemplateStore.ts';
import { type BackoffPolicy, fullJitterDelay } from '../../runtime/time/backoff.ts';
import { type OutgoingMessage, ProviderError, type SendReceipt } from '../provider/Provider.ts';
import { BREAKER_OPEN_CODE } from '../provider/ProviderConnection.ts';

export type RetryPolicy = BackoffPolicy & { readonly maxAttempts: number };

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, baseMs: 1_000, capMs: 60_000 };

export type DeliveryOutcome =
  | { readonly kind: 'sent'; readonly provider: string }
  | { readonly kind: 'failed'; readonly error: string }
  | { readonly kind: 'dead'; readonly error: string }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly error: string }
  | { readonly kind: 'skipped'; readonly reason: string }
  /**
   * The store failed under the attempt. With `providerAccepted` the provider already has the message:
   * only its `sent` record is retried, never the send; without it, the whole delivery is retried.
   */
  | { readonly kind: 'unrecorded'; readonly error: unknown; readonly providerAccepted: false }
  | {
      readonly kind: 'unrecorded';
      readonly error: unknown;
      readonly providerAccepted: true;
      readonly provider: string;
    };

export type DeliveryDeps = {
  readonly store: MessageStore;
  readonly retry: RetryPolicy;
  readonly random?: () => number;
  /** Told when a message found in `sending` is attempted again: the provider may have it already. */
  readonly onPossibleDuplicate?: (message: StoredMessage) => void;
  /** Renders template messages per recipient. */
  readonly templates: Pick<TemplateStore, 'render'>;
};

/** The parts a provider sends: the message's own content, or its template rendered for the recipient. */
export type RenderedContent = { readonly subject?: string; readonly text?: string; readonly html?: string };

/** The provider connection an attempt goes through. */
export type Via = { readonly name: string; send(outgoing: OutgoingMessage): Promise<SendReceipt> };

export function toOutgoing(message: StoredMessage, content: RenderedContent): OutgoingMessage {
  return {
    id: message.id,
    channel: message.channel,
    to: message.to,
    priority: message.priority,
    ...(content.subject !== undefined ? { subject: content.subject } : {}),
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    metadata: message.metadata,
  };
}

/** Records `sent` for a message the provider already accepted, after the store failed to. */
export async function recordSent(store: MessageStore, messageId: string, provider: string): Promise<DeliveryOutcome> {
  try {
    await store.transition(messageId, 'sent', { provider });
    return { kind: 'sent', provider };
  } catch (error) {
    if (error instanceof IllegalTransitionError) return { kind: 'skipped', reason: error.message };
    return { kind: 'unrecorded', error, providerAccepted: true, provider };
  }
}

/** Delivers a message its recipient has taken (`queued`), or one recovered in `sending`. */
export async function attemptDelivery(deps: DeliveryDeps, messageId: string, via: Via): Promise<DeliveryOutcome> {
  let message = await deps.store.load(messageId);
  if (message === null) return { kind: 'skipped', reason: 'no such message' };
  if (message.state === 'sending') {
    // An earlier attempt was interrupted between the provider and the store.
    deps.onPossibleDuplicate?.(message);
    message = await deps.store.transition(messageId, 'queued', { error: 'attempt interrupted; sending again' });
  }
  if (message.state === 'accepted') return { kind: 'skipped', reason: 'not yet taken by its recipient' };
  if (message.state !== 'queued') return { kind: 'skipped', reason: `already ${message.state}` };
  let content: RenderedContent = message.content ?? {};
  if (message.template) {
    try {
      content = await deps.templates.render(message.tenant, message.template, message.to, { channel: message.channel });
    } catch (error) {
      // A template that cannot render for this recipient never will: the message fails with the reason.
      if (!(error instanceof TemplateRenderError)) throw error;
      await deps.store.transition(messageId, 'failed', { error: error.message });
      return { kind: 'failed', error: error.message };
    }
  }
  try {
    message = await deps.store.transition(messageId, 'sending', { provider: via.name, countAttempt: true });
  } catch (error) {
    if (error instanceof IllegalTransitionError) return { kind: 'skipped', reason: error.message };
    throw error;
  }

  let failure: ProviderError;
  try {
    await via.send(toOutgoing(message, content));
  } catch (error) {
    failure =
      error instanceof ProviderError
        ? error
        : new ProviderError(via.name, error instanceof Error ? error.message : String(error), {
            retriable: true,
            cause: error,
          });
    return settleFailure(deps, via, message, failure);
  }
  try {
    await deps.store.transition(messageId, 'sent', { provider: via.name });
  } catch (error) {
    return { kind: 'unrecorded', error, providerAccepted: true, provider: via.name };
  }
  return { kind: 'sent', provider: via.name };
}

async function settleFailure(
  deps: DeliveryDeps,
  via: Via,
  message: StoredMessage,
  failure: ProviderError,
): Promise<DeliveryOutcome> {
  const reason = failure.code ? `${failure.message} (${failure.code})` : failure.message;
  const detail = { provider: via.name, error: reason };
  if (!failure.retriable) {
    await deps.store.transition(message.id, 'failed', detail);
    return { kind: 'failed', error: reason };
  }
  // A breaker that refused the send means the provider never saw it: wait and try again, never `dead`.
  if (failure.code === BREAKER_OPEN_CODE) {
    await deps.store.transition(message.id, 'queued', detail);
    return { kind: 'retry', delayMs: Math.max(250, fullJitterDelay(deps.retry, 1, deps.random)), error: reason };
  }
  if (message.attempts >= deps.retry.maxAttempts) {
    await deps.store.transition(message.id, 'dead', detail);
    return { kind: 'dead', error: reason };
  }
  await deps.store.transition(message.id, 'queued', detail);
  // The provider's own Retry-After is a floor under the jittered backoff.
  const delayMs = Math.max(fullJitterDelay(deps.retry, message.attempts, deps.random), failure.retryAfterMs ?? 0);
  return { kind: 'retry', delayMs, error: reason };
}
