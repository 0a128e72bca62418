import { describe, expect, it } from 'vitest';
import { sendRequestSchema } from '../../../runtime/messages/sendRequest.ts';
import { duplicateRefusal, longDuration } from '../../../runtime/policy/contentDedupe.ts';
import { contentHash } from '../../../runtime/policy/contentHash.ts';

const send = (overrides: Record<string, unknown> = {}) =>
  sendRequestSchema.parse({
    channel: 'email',
    to: { id: 'u1', email: 'u1@example.com' },
    content: { subject: 'Sale', text: 'Everything half price' },
    ...overrides,
  });

describe('content hash', () => {
  it('is the same for the same channel, address and content, whatever the key order or other fields', () => {
    const a = contentHash(send());
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(contentHash(send({ content: { text: 'Everything half price', subject: 'Sale' } }))).toBe(a);
    expect(contentHash(send({ idempotencyKey: 'k', metadata: { x: 1 }, priority: 'marketing' }))).toBe(a);
    expect(contentHash(send({ to: { id: 'u1', email: 'u1@example.com', timeZone: 'Europe/London' } }))).toBe(a);
  });

  it('differs with the content, the channel or the address', () => {
    const a = contentHash(send());
    expect(contentHash(send({ content: { subject: 'Sale', text: 'Everything half price!' } }))).not.toBe(a);
    expect(contentHash(send({ to: { id: 'u1', email: 'other@example.com' } }))).not.toBe(a);
    expect(
      contentHash(send({ channel: 'sms', to: { id: 'u1', phone: '+447700900123' }, content: { text: 'x' } })),
    ).not.toBe(contentHash(send({ channel: 'push', to: { id: 'u1', pushTarget: 'arn:1' }, content: { text: 'x' } })));
  });

  it('covers a template by id and variables', () => {
    const t = (vars: Record<string, unknown>) => send({ content: undefined, template: { id: 'welcome', vars } });
    expect(contentHash(t({ name: 'Ada', plan: 'pro' }))).toBe(contentHash(t({ plan: 'pro', name: 'Ada' })));
    expect(contentHash(t({ name: 'Ada' }))).not.toBe(contentHash(t({ name: 'Bob' })));
    expect(contentHash(send({ content: undefined, template: { id: 'welcome' } }))).toBe(contentHash(t({})));
  });
});

describe('duplicateRefusal', () => {
  const recent = [{ hash: 'h', at: 1_000 }];

  it('refuses a hash taken within the window, with the window in words', () => {
    expect(duplicateRefusal(recent, 'h', 600_000, 600_999)).toBe('duplicate content within 10 minutes');
    expect(duplicateRefusal(recent, 'h', 600_000, 601_000)).toBeNull();
    expect(duplicateRefusal(recent, 'other', 600_000, 2_000)).toBeNull();
    expect(duplicateRefusal(recent, null, 600_000, 2_000)).toBeNull();
  });

  it('is off with a window of 0', () => {
    expect(duplicateRefusal(recent, 'h', 0, 1_000)).toBeNull();
  });

  it('names durations', () => {
    expect(longDuration(3_600_000)).toBe('1 hour');
    expect(longDuration(60_000)).toBe('1 minute');
    expect(longDuration(90_000)).toBe('90 seconds');
    expect(longDuration(1_500)).toBe('1500 milliseconds');
  });
});
