// Quiet hours in the recipient's own time zone: a daily window of wall-clock time (it may wrap past
// midnight, like 21:00-08:00) during which marketing waits. Pure functions over instants and IANA
// zone names; daylight-saving shifts are followed by reading the zone's offset with Intl.

/** A daily window of local time, in minutes after midnight: `start` inclusive, `end` exclusive. */
export type QuietHours = { readonly start: number; readonly end: number };

const WINDOW = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;
const DAY_MS = 86_400_000;

/** Parses `HH:MM-HH:MM` (24-hour clock); null when malformed or empty (start equal to end). */
export function parseQuietHours(text: string): QuietHours | null {
  const match = WINDOW.exec(text.trim());
  if (match === null) return null;
  const [, sh, sm, eh, em] = match.map(Number) as [number, number, number, number, number];
  const window = { start: sh * 60 + sm, end: eh * 60 + em };
  return window.start === window.end ? null : window;
}

/** `21:00-08:00`. */
export function formatQuietHours(window: QuietHours): string {
  const hhmm = (minutes: number) =>
    `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
  return `${hhmm(window.start)}-${hhmm(window.end)}`;
}

/** Whether a local time (minutes after midnight) falls in the window. */
export function inQuietHours(window: QuietHours, minuteOfDay: number): boolean {
  return window.start < window.end
    ? minuteOfDay >= window.start && minuteOfDay < window.end
    : minuteOfDay >= window.start || minuteOfDay < window.end;
}

// Formatters are costly to build and immutable: one per zone, kept for the life of the process.
const MAX_CACHED_ZONES = 1_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    // Throws a RangeError for an unknown zone.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= MAX_CACHED_ZONES) formatters.clear();
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Whether `name` is an IANA time zone this runtime knows (`Europe/London`, `UTC`). */
export function isTimeZone(name: string): boolean {
  try {
    formatterFor(name);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock reading of an instant in a zone. */
export type WallClock = {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
};

export function wallClock(instant: number, timeZone: string): WallClock {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    year: fields.year ?? 1970,
    month: fields.month ?? 1,
    day: fields.day ?? 1,
    hour: fields.hour ?? 0,
    minute: fields.minute ?? 0,
    second: fields.second ?? 0,
  };
}

/** The wall-clock reading as if it were UTC, in ms (whole seconds). */
function wallMs(instant: number, timeZone: string): number {
  const w = wallClock(instant, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** The zone's offset from UTC at an instant, in ms. */
function offsetAt(instant: number, timeZone: string): number {
  return wallMs(instant, timeZone) - Math.floor(instant / 1000) * 1000;
}

/**
 * The first instant after `after` at which the zone's clock reads `local` (a wall-clock time written
 * as if UTC) or later. A time that occurs twice (clocks going back) gives its first occurrence after
 * `after`; a time that does not occur (clocks going forward over it) gives the instant of the jump.
 */
export function firstInstantAtLocal(local: number, timeZone: string, after: number): number {
  const offsets = [...new Set([-DAY_MS, 0, DAY_MS].map((shift) => offsetAt(local + shift, timeZone)))];
  const exact = offsets.map((offset) => local - offset).filter((instant) => wallMs(instant, timeZone) === local);
  if (exact.length > 0) {
    const next = exact.filter((instant) => instant > after).sort((a, b) => a - b)[0];
    return next ?? firstInstantAtLocal(local + DAY_MS, timeZone, after);
  }
  // In a gap: before it the clock reads earlier than `local`, after it later. Find the jump to the second.
  let early = Math.floor((local - Math.max(...offsets)) / 1000);
  let late = Math.ceil((local - Math.min(...offsets)) / 1000);
  while (late - early > 1) {
    const middle = Math.floor((early + late) / 2);
    if (wallMs(middle * 1000, timeZone) >= local) late = middle;
    else early = middle;
  }
  return Math.max(late * 1000, after + 1);
}

/**
 * When the quiet hours that `now` falls in end, in the recipient's zone; null when `now` is not in
 * quiet hours. The end is the first instant the recipient's clock reads the window's end time (or,
 * on the night clocks jump over it, the instant of the jump).
 * @example quietHoursEnd({ start: 21 * 60, end: 8 * 60 }, 'UTC', Date.parse('2026-01-01T22:00Z')) // 2026-01-02T08:00Z
 */
export function quietHoursEnd(window: QuietHours, timeZone: string, now: number): number | null {
  const wall = wallClock(now, timeZone);
  const minuteOfDay = wall.hour * 60 + wall.minute;
  if (!inQuietHours(window, minuteOfDay)) return null;
  // A window that wraps midnight and was entered before midnight ends tomorrow; otherwise today.
  const daysAhead = window.start > window.end && minuteOfDay >= window.start ? 1 : 0;
  const local = Date.UTC(wall.year, wall.month - 1, wall.day + daysAhead) + window.end * 60_000;
  return firstInstantAtLocal(local, timeZone, now);
}
