import { describe, expect, it } from 'vitest';
import { describeIssues, sendRequestSchema } from '../../runtime/messages/sendRequest.ts';

const email = {
  channel: 'email',
  to: { id: 'u1', email: 'u1@example.com' },
  content: { subject: 'Hi', text: 'Hello' },
};

describe('sendRequestSchema', () => {
  it('accepts an email and defaults the priority to transactional', () => {
    const parsed = sendRequestSchema.parse(email);
    expect(parsed.priority).toBe('transactional');
  });

  it.each([
    ['sms', { id: 'u', phone: '+447700900123' }],
    ['push', { id: 'u', pushTarget: 'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/app/1' }],
    ['webhook', { id: 'u', url: 'https://hooks.example.com/x' }],
  ])('accepts a %s send addressed for its channel', (channel, to) => {
    expect(sendRequestSchema.safeParse({ channel, to, content: { text: 'hi' } }).success).toBe(true);
  });

  it('names the missing address field for the channel', () => {
    const result = sendRequestSchema.safeParse({ channel: 'sms', to: { id: 'u' }, content: { text: 'x' } });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(describeIssues(result.error)).toContainEqual({
        path: 'to.phone',
        message: 'to.phone is required for channel sms',
      });
  });

  it.each([
    [{ ...email, channel: 'fax' }, 'channel'],
    [{ ...email, to: { id: 'u1', email: 'not-an-email' } }, 'to.email'],
    [{ ...email, content: undefined }, 'content'],
    [{ ...email, priority: 'urgent' }, 'priority'],
    [{ ...email, sendAt: 'tomorrow' }, 'sendAt'],
    [{ ...email, unknownField: 1 }, '(body)'],
    [{ ...email, content: { subject: 'no body' } }, 'content'],
    [{ channel: 'sms', to: { id: 'u', phone: '07700900123' }, content: { text: 'x' } }, 'to.phone'],
    [{ channel: 'webhook', to: { id: 'u', url: 'ftp://x.example.com' }, content: { text: 'x' } }, 'to.url'],
  ])('rejects %j at %s', (body, path) => {
    const result = sendRequestSchema.safeParse(body);
    expect(result.success).toBe(false);
    if (!result.success) expect(describeIssues(result.error).map((issue) => issue.path)).toContain(path);
  });
});
