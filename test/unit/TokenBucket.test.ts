import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../runtime/flow/TokenBucket.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3, clock });
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([true, true, true, false]);
    expect(bucket.msUntilToken()).toBe(100);
    clock.advance(99);
    expect(bucket.tryTake()).toBe(false);
    clock.advance(1);
    expect(bucket.tryTake()).toBe(true);
  });

  it('never holds more than its burst', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 100, burst: 5, clock });
    clock.advance(60_000);
    expect(bucket.tokens).toBe(5);
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 1, clock: new FakeClock() })).toThrow(RangeError);
  });
});
