import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../../runtime/time/backoff.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';

describe('fullJitterDelay', () => {
  const policy = { baseMs: 1_000, capMs: 60_000 };

  it('doubles the ceiling per attempt and caps it', () => {
    const top = () => 0.999_999;
    expect(fullJitterDelay(policy, 1, top)).toBe(999);
    expect(fullJitterDelay(policy, 2, top)).toBe(1_999);
    expect(fullJitterDelay(policy, 4, top)).toBe(7_999);
    expect(fullJitterDelay(policy, 7, top)).toBe(59_999);
    expect(fullJitterDelay(policy, 30, top)).toBe(59_999);
  });

  it('spreads delays from zero up to the ceiling', () => {
    expect(fullJitterDelay(policy, 3, () => 0)).toBe(0);
    expect(fullJitterDelay(policy, 3, () => 0.5)).toBe(2_000);
  });
});

describe('FakeClock', () => {
  it('fires timers in due order only when advanced past them', () => {
    const clock = new FakeClock(1_000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 200);
    clock.setTimeout(() => fired.push('a'), 100);
    const cancelled = clock.setTimeout(() => fired.push('never'), 150);
    clock.clearTimeout(cancelled);
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(101);
    expect(fired).toEqual(['a', 'b']);
    expect(clock.now()).toBe(1_200);
    expect(clock.pending).toBe(0);
  });
});
