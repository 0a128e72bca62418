import { describe, expect, it } from 'vitest';
import { LruCache } from '../../runtime/templates/LruCache.ts';
import { missingPartFor, templateInputSchema } from '../../runtime/templates/templateInput.ts';

describe('templateInputSchema', () => {
  const messagesOf = (input: unknown) => {
    const result = templateInputSchema.safeParse(input);
    return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };

  it('takes an email template with text or html, and one for any channel', () => {
    expect(messagesOf({ id: 'welcome', channel: 'email', subject: 'Hi', html: '<p>hi</p>' })).toEqual([]);
    expect(messagesOf({ id: 'welcome', channel: 'email', text: 'hi' })).toEqual([]);
    expect(messagesOf({ id: 'order.shipped:v2_eu-west', text: 'hi' })).toEqual([]);
  });

  it('needs text or html for email, text for the other channels', () => {
    expect(messagesOf({ id: 'a', channel: 'email', subject: 'only a subject' })).toEqual([
      'text: an email template needs text or html',
    ]);
    expect(messagesOf({ id: 'a', channel: 'sms', html: '<p>x</p>' })).toEqual([
      'text: text is required for channel sms',
    ]);
    expect(messagesOf({ id: 'a' })).toEqual(['text: a template needs text or html']);
  });

  it('refuses unsafe ids and unknown fields', () => {
    expect(messagesOf({ id: '../etc', text: 'x' })).toHaveLength(1);
    expect(messagesOf({ id: 'a b', text: 'x' })).toHaveLength(1);
    expect(messagesOf({ id: 'x'.repeat(257), text: 'x' })).toHaveLength(1);
    expect(messagesOf({ id: 'a', text: 'x', body: 'y' })).toHaveLength(1);
    expect(messagesOf({ id: 'a', channel: 'fax', text: 'x' })).toHaveLength(1);
  });

  it('says which part a channel lacks', () => {
    expect(missingPartFor('email', { html: 1 })).toBeUndefined();
    expect(missingPartFor('email', { subject: 1 })).toBe('an email needs text or html');
    expect(missingPartFor('push', { html: 1 })).toBe('channel push needs text');
  });
});

describe('LruCache', () => {
  it('drops the least recently used entry past its capacity', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
    expect(cache.evictions).toBe(1);
  });

  it('replaces a value without evicting, and refuses a capacity below one', () => {
    const cache = new LruCache<string, number>(1);
    cache.set('a', 1);
    cache.set('a', 2);
    expect(cache.get('a')).toBe(2);
    expect(cache.evictions).toBe(0);
    expect(() => new LruCache(0)).toThrow(RangeError);
  });
});
