// Quiet hours in the recipient's zone, across daylight-saving changes (Europe/London 2026: clocks go
// forward at 01:00 UTC on 29 March and back at 01:00 UTC on 25 October), on a fake clock.
import { describe, expect, it } from 'vitest';
import {
  firstInstantAtLocal,
  formatQuietHours,
  isTimeZone,
  parseQuietHours,
  quietHoursEnd,
} from '../../../runtime/policy/quietHours.ts';
import { FakeClock } from '../../../runtime/time/FakeClock.ts';

const NIGHT = { start: 21 * 60, end: 8 * 60 };
const at = (iso: string) => Date.parse(iso);
const endAt = (window: { start: number; end: number }, zone: string, now: string) => {
  const end = quietHoursEnd(window, zone, at(now));
  return end === null ? null : new Date(end).toISOString();
};

describe('parseQuietHours', () => {
  it('reads HH:MM-HH:MM and refuses malformed or empty windows', () => {
    expect(parseQuietHours('21:00-08:00')).toEqual(NIGHT);
    expect(parseQuietHours(' 12:30-13:45 ')).toEqual({ start: 750, end: 825 });
    expect(formatQuietHours(NIGHT)).toBe('21:00-08:00');
    for (const bad of ['21:00', '25:00-08:00', '21:00-08:60', '9:00-10:00', '08:00-08:00', 'off']) {
      expect(parseQuietHours(bad), bad).toBeNull();
    }
  });

  it('knows IANA zones', () => {
    expect(isTimeZone('Europe/London')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
  });
});

describe('quietHoursEnd', () => {
  it('is null outside quiet hours, with the edges inclusive at the start and exclusive at the end', () => {
    expect(endAt(NIGHT, 'UTC', '2026-06-01T20:59:59Z')).toBeNull();
    expect(endAt(NIGHT, 'UTC', '2026-06-01T21:00:00Z')).toBe('2026-06-02T08:00:00.000Z');
    expect(endAt(NIGHT, 'UTC', '2026-06-02T07:59:59Z')).toBe('2026-06-02T08:00:00.000Z');
    expect(endAt(NIGHT, 'UTC', '2026-06-02T08:00:00Z')).toBeNull();
    expect(endAt({ start: 12 * 60, end: 14 * 60 }, 'UTC', '2026-06-02T13:00:00Z')).toBe('2026-06-02T14:00:00.000Z');
    expect(endAt({ start: 12 * 60, end: 14 * 60 }, 'UTC', '2026-06-02T23:00:00Z')).toBeNull();
  });

  it('reads the wall clock in the recipient’s zone', () => {
    // 21:30 UTC in summer is 22:30 in London (quiet) and 17:30 in New York (not).
    expect(endAt(NIGHT, 'Europe/London', '2026-06-01T21:30:00Z')).toBe('2026-06-02T07:00:00.000Z');
    expect(endAt(NIGHT, 'America/New_York', '2026-06-01T21:30:00Z')).toBeNull();
    expect(endAt(NIGHT, 'Asia/Tokyo', '2026-06-01T13:00:00Z')).toBe('2026-06-01T23:00:00.000Z');
  });

  it('ends at 08:00 BST on the night the clocks go forward (a short night)', () => {
    expect(endAt(NIGHT, 'Europe/London', '2026-03-28T21:30:00Z')).toBe('2026-03-29T07:00:00.000Z');
    expect(endAt(NIGHT, 'Europe/London', '2026-03-29T00:59:59Z')).toBe('2026-03-29T07:00:00.000Z');
    // 01:00 UTC: the clock jumps from 00:59:59 GMT to 02:00 BST.
    expect(endAt(NIGHT, 'Europe/London', '2026-03-29T01:30:00Z')).toBe('2026-03-29T07:00:00.000Z');
    expect(endAt(NIGHT, 'Europe/London', '2026-03-29T07:00:00Z')).toBeNull();
  });

  it('ends at 08:00 GMT on the night the clocks go back (a long night), both times through 01:xx', () => {
    expect(endAt(NIGHT, 'Europe/London', '2026-10-24T19:59:00Z')).toBeNull(); // 20:59 BST
    expect(endAt(NIGHT, 'Europe/London', '2026-10-24T20:00:00Z')).toBe('2026-10-25T08:00:00.000Z'); // 21:00 BST
    expect(endAt(NIGHT, 'Europe/London', '2026-10-25T00:30:00Z')).toBe('2026-10-25T08:00:00.000Z'); // 01:30 BST
    expect(endAt(NIGHT, 'Europe/London', '2026-10-25T01:30:00Z')).toBe('2026-10-25T08:00:00.000Z'); // 01:30 GMT
    expect(endAt(NIGHT, 'Europe/London', '2026-10-25T08:00:00Z')).toBeNull();
  });

  it('ends at the jump when the end time does not exist that night', () => {
    // 23:00-01:30 on 29 March: 01:30 never shows; the clock reads 02:00 BST from 01:00 UTC.
    const window = { start: 23 * 60, end: 90 };
    expect(endAt(window, 'Europe/London', '2026-03-29T00:45:00Z')).toBe('2026-03-29T01:00:00.000Z');
    expect(endAt(window, 'Europe/London', '2026-03-29T01:00:00Z')).toBeNull();
  });

  it('starts at the jump when the start time does not exist that night', () => {
    const window = { start: 90, end: 6 * 60 };
    expect(endAt(window, 'Europe/London', '2026-03-29T00:59:00Z')).toBeNull(); // 00:59 GMT
    expect(endAt(window, 'Europe/London', '2026-03-29T01:00:00Z')).toBe('2026-03-29T05:00:00.000Z'); // 02:00 BST
  });

  it('ends at the first 01:30 after now when the end time happens twice', () => {
    const window = { start: 22 * 60, end: 90 };
    // 00:00 BST: ends at 01:30 BST (00:30 UTC); at 01:15 GMT, the second time round, quiet again until 01:30 GMT.
    expect(endAt(window, 'Europe/London', '2026-10-24T23:00:00Z')).toBe('2026-10-25T00:30:00.000Z');
    expect(endAt(window, 'Europe/London', '2026-10-25T00:45:00Z')).toBeNull(); // 01:45 BST
    expect(endAt(window, 'Europe/London', '2026-10-25T01:15:00Z')).toBe('2026-10-25T01:30:00.000Z');
  });

  it('follows New York’s change (02:00 local) too', () => {
    // 8 March 2026: 22:00 EST on the 7th, ends 08:00 EDT (12:00 UTC).
    expect(endAt(NIGHT, 'America/New_York', '2026-03-08T03:00:00Z')).toBe('2026-03-08T12:00:00.000Z');
  });

  it('on a fake clock: a night in London is quiet from 21:00 to 08:00 local, in steps of 15 minutes', () => {
    const clock = new FakeClock(at('2026-03-28T18:00:00Z'));
    const quiet: string[] = [];
    while (clock.now() < at('2026-03-29T10:00:00Z')) {
      const end = quietHoursEnd(NIGHT, 'Europe/London', clock.now());
      if (end !== null) {
        expect(end).toBe(at('2026-03-29T07:00:00Z'));
        quiet.push(new Date(clock.now()).toISOString().slice(11, 16));
      }
      clock.advance(15 * 60_000);
    }
    // 21:00 GMT to 07:00 UTC (08:00 BST): 10 hours, one fewer than a normal night.
    expect(quiet[0]).toBe('21:00');
    expect(quiet.at(-1)).toBe('06:45');
    expect(quiet).toHaveLength(10 * 4);
  });
});

describe('firstInstantAtLocal', () => {
  it('resolves a local time to the instant, or its first occurrence after a given instant', () => {
    const local = Date.UTC(2026, 9, 25, 1, 30);
    expect(firstInstantAtLocal(local, 'Europe/London', 0)).toBe(at('2026-10-25T00:30:00Z'));
    expect(firstInstantAtLocal(local, 'Europe/London', at('2026-10-25T00:30:00Z'))).toBe(at('2026-10-25T01:30:00Z'));
    expect(firstInstantAtLocal(Date.UTC(2026, 5, 1, 8), 'UTC', 0)).toBe(at('2026-06-01T08:00:00Z'));
  });
});
