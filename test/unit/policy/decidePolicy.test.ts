// The policy decision and the history it reads, on a fake clock.
import { describe, expect, it } from 'vitest';
import { decidePolicy, type PolicyInput, type RecipientPolicy } from '../../../runtime/policy/decidePolicy.ts';
import { EMPTY_HISTORY, type RecipientHistory, recordTaken } from '../../../runtime/policy/recipientHistory.ts';
import { applySuppressionChange, suppressionRefusal } from '../../../runtime/policy/suppression.ts';
import { FakeClock } from '../../../runtime/time/FakeClock.ts';

const HOUR = 3_600_000;
const policy: RecipientPolicy = {
  frequencyCaps: { marketing: { email: { max: 2, windowMs: 24 * HOUR } } },
  dedupeWindowMs: 600_000,
  quietHours: { start: 21 * 60, end: 8 * 60 },
  defaultTimeZone: 'Europe/London',
};

const input = (clock: FakeClock, overrides: Partial<PolicyInput> = {}): PolicyInput => ({
  channel: 'email',
  priority: 'marketing',
  sendAt: null,
  contentHash: 'h',
  timeZone: null,
  suppressions: [],
  history: EMPTY_HISTORY,
  now: clock.now(),
  ...overrides,
});

describe('decidePolicy', () => {
  it('waits for sendAt before anything else', () => {
    const clock = new FakeClock(Date.parse('2026-06-01T12:00:00Z'));
    const suppressions = [{ channel: null, reason: 'bounced' }];
    expect(decidePolicy(policy, input(clock, { sendAt: clock.now() + 1, suppressions }))).toEqual({
      kind: 'wait',
      dueAt: clock.now() + 1,
    });
    clock.advance(1);
    expect(decidePolicy(policy, input(clock, { sendAt: clock.now(), suppressions }))).toEqual({
      kind: 'suppress',
      reason: 'suppressed: bounced',
    });
  });

  it('holds marketing in quiet hours (the recipient’s zone, else the default) and never transactional', () => {
    const clock = new FakeClock(Date.parse('2026-06-01T21:30:00Z')); // 22:30 BST
    expect(decidePolicy(policy, input(clock))).toEqual({ kind: 'hold', until: Date.parse('2026-06-02T07:00:00Z') });
    expect(decidePolicy(policy, input(clock, { timeZone: 'America/Los_Angeles' }))).toEqual({ kind: 'take' });
    expect(decidePolicy(policy, input(clock, { priority: 'transactional' }))).toEqual({ kind: 'take' });
    // A stored zone this runtime does not know falls back to the default rather than failing.
    expect(decidePolicy(policy, input(clock, { timeZone: 'Nowhere/Atlantis' })).kind).toBe('hold');
    clock.advance(Date.parse('2026-06-02T07:00:00Z') - clock.now());
    expect(decidePolicy(policy, input(clock))).toEqual({ kind: 'take' });
  });

  it('refuses past the cap and duplicates, in that order, from the history of taken messages', () => {
    const clock = new FakeClock(Date.parse('2026-06-01T12:00:00Z'));
    let history: RecipientHistory = EMPTY_HISTORY;
    const take = (hash: string, priority: 'marketing' | 'transactional' = 'marketing') => {
      history = recordTaken(history, policy, { channel: 'email', priority, contentHash: hash, takenAt: clock.now() });
    };
    take('a');
    clock.advance(60_000);
    expect(decidePolicy(policy, input(clock, { history, contentHash: 'a' }))).toEqual({
      kind: 'suppress',
      reason: 'duplicate content within 10 minutes',
    });
    take('b');
    expect(decidePolicy(policy, input(clock, { history, contentHash: 'a' }))).toEqual({
      kind: 'suppress',
      reason: 'frequency cap: 2 marketing emails per 24h',
    });
    expect(decidePolicy(policy, input(clock, { history, contentHash: 'c', priority: 'transactional' }))).toEqual({
      kind: 'take',
    });
    expect(decidePolicy(policy, input(clock, { history, contentHash: 'b', priority: 'transactional' }))).toEqual({
      kind: 'suppress',
      reason: 'duplicate content within 10 minutes',
    });
    clock.advance(24 * HOUR - 60_000);
    expect(decidePolicy(policy, input(clock, { history, contentHash: 'a' }))).toEqual({ kind: 'take' });
  });
});

describe('recordTaken', () => {
  it('keeps only capped times and hashes still inside their windows', () => {
    const clock = new FakeClock(0);
    let history: RecipientHistory = EMPTY_HISTORY;
    for (let i = 0; i < 30; i++) {
      history = recordTaken(history, policy, {
        channel: 'email',
        priority: i % 2 ? 'marketing' : 'transactional',
        contentHash: `h${i}`,
        takenAt: clock.now(),
      });
      clock.advance(HOUR);
    }
    // Marketing at 1h, 3h, … 29h: those after 29h - 24h remain. Hashes: the last one (10 minutes).
    expect(history.taken).toEqual({
      'marketing:email': [7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29].map((h) => h * HOUR),
    });
    expect(history.content).toEqual([{ hash: 'h29', at: 29 * HOUR }]);
    const off = recordTaken(
      history,
      { frequencyCaps: {}, dedupeWindowMs: 0 },
      {
        channel: 'email',
        priority: 'marketing',
        contentHash: 'x',
        takenAt: clock.now(),
      },
    );
    expect(off).toEqual(EMPTY_HISTORY);
  });
});

describe('suppression lists', () => {
  it('prefers the channel’s own entry, and applies changes idempotently', () => {
    let list = applySuppressionChange([], { kind: 'added', suppression: { channel: null, reason: 'complained' } });
    list = applySuppressionChange(list, { kind: 'added', suppression: { channel: 'sms', reason: 'STOP' } });
    list = applySuppressionChange(list, { kind: 'added', suppression: { channel: 'sms', reason: 'STOP' } });
    expect(list).toHaveLength(2);
    expect(suppressionRefusal(list, 'sms')).toBe('suppressed: STOP');
    expect(suppressionRefusal(list, 'email')).toBe('suppressed: complained');
    list = applySuppressionChange(list, { kind: 'removed', channel: null });
    expect(suppressionRefusal(list, 'email')).toBeNull();
    expect(applySuppressionChange(list, { kind: 'removed', channel: 'push' })).toEqual(list);
  });
});
