// The webhook provider through Node's fetch against a loopback receiver: the signed JSON body on
// the wire, and receivers' answers (throttling, errors, redirects, silence) classified.
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OutgoingMessage, ProviderError } from '../../actors/provider/Provider.ts';
import { WebhookProvider } from '../../actors/provider/webhook/WebhookProvider.ts';
import { signBody, verifySignature } from '../../actors/provider/webhook/webhookSignature.ts';
import { startWebhookReceiver, type TestWebhookReceiver } from '../support/webhookReceiver.ts';

const secret = 'whsec-switchboard-test';

async function failureOf(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('WebhookProvider', () => {
  let receiver: TestWebhookReceiver;
  let provider: WebhookProvider;
  const now = Date.parse('2026-03-01T12:00:00Z');
  const hook = (overrides: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
    id: 'wh-1',
    channel: 'webhook',
    to: { id: 'u1', url: receiver.url() },
    subject: 'Order shipped',
    text: 'Ünïcode ✓ survives',
    metadata: { orderId: 'o-42' },
    ...overrides,
    priority: overrides.priority ?? 'transactional',
  });

  beforeAll(async () => {
    receiver = await startWebhookReceiver({ secret });
    provider = new WebhookProvider({ secret, timeoutMs: 5_000, now: () => now });
  });

  afterEach(() => receiver.releaseHung());

  afterAll(async () => {
    await provider?.close();
    await receiver?.close();
  });

  it('POSTs the message as JSON with a signature that verifies over the exact body', async () => {
    const receipt = await provider.send(hook());
    expect(receipt).toEqual({});
    const request = receiver.requests.at(-1);
    expect(request).toMatchObject({ method: 'POST', path: '/hook', signatureValid: true, answered: 200 });
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['x-switchboard-message-id']).toBe('wh-1');
    expect(request?.json).toEqual({
      id: 'wh-1',
      channel: 'webhook',
      to: { id: 'u1', url: receiver.url() },
      subject: 'Order shipped',
      text: 'Ünïcode ✓ survives',
      metadata: { orderId: 'o-42' },
    });
    const header = request?.headers['x-switchboard-signature'];
    expect(header).toBe(signBody(request?.body ?? '', secret));
    expect(verifySignature(request?.body ?? '', header, 'another-secret')).toBe(false);
    expect(verifySignature(`${request?.body ?? ''} `, header, secret)).toBe(false);
  });

  it('reports 429 with Retry-After in seconds as transient with retryAfterMs', async () => {
    receiver.replyNext({ kind: 'status', status: 429, headers: { 'retry-after': '7' }, body: 'slow down' });
    const error = await failureOf(provider.send(hook({ id: 'wh-2' })));
    expect(error).toMatchObject({ provider: 'webhook', retriable: true, code: '429', retryAfterMs: 7_000 });
    expect(error.message).toContain('slow down');
  });

  it('reads an HTTP-date Retry-After against the provider clock', async () => {
    const at = new Date(now + 30_000).toUTCString();
    receiver.replyNext({ kind: 'status', status: 503, headers: { 'retry-after': at } });
    const error = await failureOf(provider.send(hook({ id: 'wh-3' })));
    expect(error).toMatchObject({ retriable: true, code: '503', retryAfterMs: 30_000 });
  });

  it('reports 500 as transient', async () => {
    receiver.replyNext({ kind: 'status', status: 500, body: 'boom' });
    const error = await failureOf(provider.send(hook({ id: 'wh-4' })));
    expect(error).toMatchObject({ retriable: true, code: '500', retryAfterMs: undefined });
  });

  it('reports 400 as permanent, with the receiver reason', async () => {
    receiver.replyNext({ kind: 'status', status: 400, body: '{"error":"unknown order"}' });
    const error = await failureOf(provider.send(hook({ id: 'wh-5' })));
    expect(error).toMatchObject({ retriable: false, code: '400' });
    expect(error.message).toContain('unknown order');
  });

  it('refuses a 301 redirect as permanent and never calls the target', async () => {
    const before = receiver.requests.length;
    receiver.replyNext({ kind: 'status', status: 301, headers: { location: receiver.url('/moved') } });
    const error = await failureOf(provider.send(hook({ id: 'wh-6' })));
    expect(error).toMatchObject({ retriable: false, code: '301' });
    expect(error.message).toContain('redirect');
    expect(error.message).toContain('/moved');
    expect(receiver.requests.length).toBe(before + 1);
    expect(receiver.requests.some((request) => request.path === '/moved')).toBe(false);
  });

  it('fails transiently when the receiver does not answer within the timeout', async () => {
    const quick = new WebhookProvider({ secret, timeoutMs: 300 });
    try {
      receiver.replyNext({ kind: 'hang' });
      const started = performance.now();
      const error = await failureOf(quick.send(hook({ id: 'wh-7' })));
      const elapsed = performance.now() - started;
      expect(error).toMatchObject({ retriable: true, code: 'ETIMEDOUT' });
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(2_000);
      expect(receiver.requests.at(-1)?.answered).toBe('hung');
    } finally {
      await quick.close();
    }
  });

  it('reports an unreachable receiver as transient', async () => {
    const gone = await startWebhookReceiver({ secret });
    await gone.close();
    const error = await failureOf(provider.send(hook({ id: 'wh-8', to: { id: 'u8', url: gone.url() } })));
    expect(error).toMatchObject({ retriable: true, code: 'ECONNREFUSED' });
  });

  it('refuses a message without an http(s) URL, without sending', async () => {
    const before = receiver.requests.length;
    const missing = await failureOf(provider.send(hook({ id: 'wh-9', to: { id: 'u9' } })));
    const ftp = await failureOf(provider.send(hook({ id: 'wh-10', to: { id: 'u9', url: 'ftp://example.test/x' } })));
    const junk = await failureOf(provider.send(hook({ id: 'wh-11', to: { id: 'u9', url: 'not a url' } })));
    expect([missing.retriable, ftp.retriable, junk.retriable]).toEqual([false, false, false]);
    expect(receiver.requests.length).toBe(before);
  });

  it('waits for a request in flight on close, then refuses new sends as retriable', async () => {
    const closing = new WebhookProvider({ secret, timeoutMs: 5_000 });
    receiver.replyNext({ kind: 'hang' });
    const before = receiver.requests.length;
    const inFlight = closing.send(hook({ id: 'wh-12' })).then(
      () => 'sent',
      (e: unknown) => e,
    );
    await receiver.waitForRequests(before + 1);
    const closed = closing.close();
    const late = await failureOf(closing.send(hook({ id: 'wh-13' })));
    expect(late).toMatchObject({ retriable: true, code: 'ECLOSED' });
    receiver.releaseHung();
    await closed;
    expect(await inFlight).toBeInstanceOf(ProviderError);
  });
});
