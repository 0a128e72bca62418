import { describe, expect, it } from 'vitest';
import {
  countInWindow,
  describeCap,
  frequencyCapRefusal,
  longestCapWindow,
  parseFrequencyCaps,
} from '../../../runtime/policy/frequencyCap.ts';

const DAY = 86_400_000;
const caps = { marketing: { email: { max: 3, windowMs: DAY }, sms: { max: 1, windowMs: 3_600_000 } } };

describe('frequency caps', () => {
  it('counts the times in the rolling window that ends now', () => {
    expect(countInWindow([0, 10, DAY - 1, DAY], DAY, DAY)).toBe(3);
    expect(countInWindow([0, 10], DAY, DAY + 10)).toBe(0);
    expect(countInWindow([5_000], DAY, 4_000)).toBe(0);
  });

  it('refuses past the cap with a reason naming it, and only where a cap is configured', () => {
    const now = 2 * DAY;
    const taken = [now - 3_000, now - 2_000, now - 1_000];
    expect(frequencyCapRefusal(caps, 'marketing', 'email', taken.slice(0, 2), now)).toBeNull();
    expect(frequencyCapRefusal(caps, 'marketing', 'email', taken, now)).toBe(
      'frequency cap: 3 marketing emails per 24h',
    );
    expect(frequencyCapRefusal(caps, 'marketing', 'sms', [now - 1], now)).toBe('frequency cap: 1 marketing SMS per 1h');
    expect(frequencyCapRefusal(caps, 'transactional', 'email', taken, now)).toBeNull();
    expect(frequencyCapRefusal(caps, 'marketing', 'push', taken, now)).toBeNull();
    expect(frequencyCapRefusal(caps, 'marketing', 'email', taken, now + DAY)).toBeNull();
  });

  it('describes caps in short units', () => {
    expect(describeCap({ max: 2, windowMs: 90 * 60_000 }, 'transactional', 'push')).toBe(
      '2 transactional push notifications per 90m',
    );
    expect(describeCap({ max: 5, windowMs: 30_000 }, 'marketing', 'webhook')).toBe('5 marketing webhooks per 30s');
    expect(longestCapWindow(caps)).toBe(DAY);
    expect(longestCapWindow({})).toBe(0);
  });

  it('parses SWITCHBOARD_FREQUENCY_CAPS, naming what is wrong', () => {
    expect(parseFrequencyCaps(undefined)).toEqual({ ok: true, caps: {} });
    expect(parseFrequencyCaps('{"marketing":{"email":{"max":3,"windowMs":86400000}}}')).toEqual({
      ok: true,
      caps: { marketing: { email: { max: 3, windowMs: DAY } } },
    });
    const notJson = parseFrequencyCaps('{marketing');
    expect(notJson.ok === false && notJson.message).toMatch(/JSON/);
    expect(parseFrequencyCaps('{"promo":{}}')).toMatchObject({ ok: false });
    expect(parseFrequencyCaps('{"marketing":{"fax":{"max":1,"windowMs":1}}}')).toMatchObject({ ok: false });
    const zero = parseFrequencyCaps('{"marketing":{"email":{"max":0,"windowMs":1}}}');
    expect(zero.ok === false && zero.message).toMatch(/at marketing\.email\.max$/);
  });
});
