import { describe, expect, it } from 'vitest';
import {
  classifyWebhookError,
  classifyWebhookResponse,
  parseRetryAfter,
} from '../../actors/provider/webhook/classifyWebhookResponse.ts';
import { signBody, verifySignature } from '../../actors/provider/webhook/webhookSignature.ts';

const now = Date.parse('2026-03-01T12:00:00Z');
const answer = (status: number, headers: Record<string, string> = {}) => ({ status, headers: new Headers(headers) });

describe('classifyWebhookResponse', () => {
  it('accepts every 2xx', () => {
    for (const status of [200, 201, 202, 204, 299]) {
      expect(classifyWebhookResponse(answer(status), { now })).toEqual({ ok: true });
    }
  });

  it('treats 429, 408 and 5xx as transient, with Retry-After in seconds or as a date', () => {
    const throttled = classifyWebhookResponse(answer(429, { 'retry-after': '12' }), { now });
    expect(throttled.ok).toBe(false);
    if (throttled.ok) return;
    expect(throttled.error).toMatchObject({ provider: 'webhook', retriable: true, code: '429', retryAfterMs: 12_000 });

    const later = new Date(now + 90_000).toUTCString();
    const unavailable = classifyWebhookResponse(answer(503, { 'retry-after': later }), { now, provider: 'hooks' });
    expect(unavailable).toMatchObject({
      ok: false,
      error: { provider: 'hooks', retriable: true, retryAfterMs: 90_000 },
    });

    for (const status of [408, 500, 502, 504]) {
      expect(classifyWebhookResponse(answer(status), { now })).toMatchObject({
        ok: false,
        error: { retriable: true, retryAfterMs: undefined },
      });
    }
  });

  it('treats other 4xx as permanent and ignores their Retry-After', () => {
    for (const status of [400, 401, 403, 404, 410, 413, 422]) {
      const verdict = classifyWebhookResponse(answer(status, { 'retry-after': '5' }), { now, detail: 'nope' });
      expect(verdict).toMatchObject({
        ok: false,
        error: { retriable: false, code: String(status), retryAfterMs: undefined },
      });
      if (!verdict.ok) expect(verdict.error.message).toContain('nope');
    }
  });

  it('refuses redirects as permanent and says where they pointed', () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const verdict = classifyWebhookResponse(answer(status, { location: 'https://elsewhere.test/x' }), { now });
      expect(verdict).toMatchObject({ ok: false, error: { retriable: false, code: String(status) } });
      if (!verdict.ok) expect(verdict.error.message).toMatch(/redirect to https:\/\/elsewhere\.test\/x.*refused/);
    }
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, and clamps past dates to 0', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 11:00:00 GMT', now)).toBe(0);
  });

  it('ignores absent and unreadable values', () => {
    for (const value of [null, undefined, '', '-5', '1.5', 'soon', '2026-03-01T12:00:30Z']) {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    }
  });
});

describe('classifyWebhookError', () => {
  it('treats a timeout as transient ETIMEDOUT', () => {
    const error = classifyWebhookError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    expect(error).toMatchObject({ provider: 'webhook', retriable: true, code: 'ETIMEDOUT' });
  });

  it('treats fetch network failures as transient, with the socket error code', () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
    });
    expect(classifyWebhookError(refused, 'hooks')).toMatchObject({
      provider: 'hooks',
      retriable: true,
      code: 'ECONNREFUSED',
    });
    const reset = new TypeError('fetch failed', {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    expect(classifyWebhookError(reset).retriable).toBe(true);
    expect(classifyWebhookError(new TypeError('fetch failed')).retriable).toBe(true);
  });

  it('treats a URL fetch cannot use as permanent', () => {
    const invalid = new TypeError('Invalid URL', {
      cause: Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL' }),
    });
    expect(classifyWebhookError(invalid).retriable).toBe(false);
  });
});

describe('verifySignature', () => {
  it('accepts the signature of the exact bytes and nothing else', () => {
    const body = Buffer.from('{"id":"m1","text":"ü"}', 'utf8');
    const header = signBody(body, 'secret');
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(body, header, 'secret')).toBe(true);
    expect(verifySignature(body.toString('utf8'), header, 'secret')).toBe(true);
    expect(verifySignature(body, header.toUpperCase().replace('SHA256=', 'sha256='), 'secret')).toBe(true);
    expect(verifySignature(body, header, 'other')).toBe(false);
    expect(verifySignature('{"id":"m2"}', header, 'secret')).toBe(false);
    expect(verifySignature(body, header.slice(0, -2), 'secret')).toBe(false);
    expect(verifySignature(body, header.replace('sha256=', 'sha1='), 'secret')).toBe(false);
    expect(verifySignature(body, undefined, 'secret')).toBe(false);
    expect(verifySignature(body, [header], 'secret')).toBe(false);
  });
});
