/**
 * Optimove writes date-times as `YYYY-MM-DD HH:MM:SS` wall-clock times in the site's time zone, without an offset.
 * These helpers convert between such wall-clock times and instants with `Intl.DateTimeFormat` only.
 *
 * Daylight-saving policy (see {@link WallTimeDisambiguation}):
 * - a wall time that occurs twice (the repeated hour when clocks go back) reads by default as the EARLIER instant;
 * - a wall time that never occurs (the hour skipped when clocks go forward) reads by default as the earlier of the two
 *   instants the offsets before and after the change give, i.e. as if the clock had already moved forward
 *   (London 2025-03-30 01:30 reads as 00:30 UTC).
 * The times the service reads are deadlines (`ClearanceRequiredBy`): reading one too early only costs spare minutes,
 * reading it too late could miss it. Formatting an instant is never ambiguous, but a formatted time inside the
 * repeated hour cannot tell which occurrence it was; Optimove's format has no room for that.
 */

/** How a wall time that occurs twice, or never, in the zone becomes an instant. */
export type WallTimeDisambiguation = 'earlier' | 'later' | 'reject';

/** Options of {@link parseOptimoveTime}. */
export interface ParseOptimoveTimeOptions {
  /** @default 'earlier' */
  disambiguation?: WallTimeDisambiguation;
}

/** A date-time that cannot be read, or that falls in a daylight-saving gap or overlap under `'reject'`. */
export class InvalidOptimoveTimeError extends Error {
  readonly code = 'OPTIMOVE_INVALID_TIME';

  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`Invalid Optimove date-time ${JSON.stringify(input.slice(0, 64))}: ${reason}`);
    this.name = 'InvalidOptimoveTimeError';
  }
}

const TIME_PATTERN =
  /^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$/i;
const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClockFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }

  return formatter;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const WALL_CLOCK_PARTS = new Set<string>(['year', 'month', 'day', 'hour', 'minute', 'second']);

function wallClockAt(epochMs: number, timeZone: string): WallClock {
  const clock: WallClock = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of wallClockFormatter(timeZone).formatToParts(epochMs)) {
    if (WALL_CLOCK_PARTS.has(part.type)) {
      clock[part.type as keyof WallClock] = Number(part.value);
    }
  }

  return clock;
}

/** True when `timeZone` is an IANA zone (or `UTC`) this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    wallClockFormatter(timeZone);

    return true;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC at `instant`, in milliseconds (positive east of Greenwich). */
export function timeZoneOffsetMs(instant: Date | number, timeZone: string): number {
  const epochMs = typeof instant === 'number' ? instant : instant.getTime();
  const wholeSecond = Math.floor(epochMs / 1000) * 1000;
  const c = wallClockAt(wholeSecond, timeZone);

  return Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute, c.second) - wholeSecond;
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** `instant` as Optimove's `YYYY-MM-DD HH:MM:SS` in `timeZone` (milliseconds are dropped). */
export function formatOptimoveTime(instant: Date | number, timeZone: string): string {
  const epochMs = typeof instant === 'number' ? instant : instant.getTime();
  if (!Number.isFinite(epochMs)) {
    throw new RangeError('formatOptimoveTime needs a valid date');
  }
  const c = wallClockAt(epochMs, timeZone);

  return `${pad(c.year, 4)}-${pad(c.month)}-${pad(c.day)} ${pad(c.hour)}:${pad(c.minute)}:${pad(c.second)}`;
}

function offsetFromText(text: string): number {
  if (text.toUpperCase() === 'Z') {
    return 0;
  }
  const sign = text.startsWith('-') ? -1 : 1;
  const digits = text.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;

  return sign * (hours * 60 + minutes) * 60_000;
}

/**
 * Reads Optimove's `YYYY-MM-DD HH:MM:SS` as a wall-clock time in `timeZone` (a `T` separator, missing seconds and
 * fractions are tolerated), or an ISO 8601 date-time with an offset (`Z`, `+01:00`), whose offset then wins over the
 * zone. Daylight-saving gaps and overlaps follow `options.disambiguation` (default `'earlier'`; see the module notes).
 * @throws InvalidOptimoveTimeError for text that is not such a date-time, an impossible date, or a gap/overlap
 *   under `'reject'`.
 */
export function parseOptimoveTime(input: string, timeZone: string, options: ParseOptimoveTimeOptions = {}): Date {
  const match = typeof input === 'string' ? TIME_PATTERN.exec(input) : null;
  if (!match) {
    throw new InvalidOptimoveTimeError(String(input), 'expected YYYY-MM-DD HH:MM:SS or ISO 8601');
  }
  const [year, month, day, hour, minute] = match.slice(1, 6).map(Number);
  const second = match[6] === undefined ? 0 : Number(match[6]);
  const millisecond = match[7] === undefined ? 0 : Number(match[7].slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) {
    throw new InvalidOptimoveTimeError(input, 'field out of range');
  }
  const wallAsUtc = Date.UTC(year, month - 1, day, hour, minute, second, millisecond);
  if (new Date(wallAsUtc).getUTCDate() !== day) {
    throw new InvalidOptimoveTimeError(input, 'no such day');
  }

  if (match[8] !== undefined) {
    return new Date(wallAsUtc - offsetFromText(match[8]));
  }

  return new Date(resolveWallTime(wallAsUtc, timeZone, input, options.disambiguation ?? 'earlier'));
}

/**
 * The instant(s) at which the zone's clock shows `wallAsUtc`: the offsets a day either side bound every real
 * transition, and a candidate counts only if the zone really has that offset at the candidate instant.
 */
function resolveWallTime(wallAsUtc: number, timeZone: string, input: string, policy: WallTimeDisambiguation): number {
  const offsets = new Set([
    timeZoneOffsetMs(wallAsUtc - DAY_MS, timeZone),
    timeZoneOffsetMs(wallAsUtc + DAY_MS, timeZone),
  ]);
  const candidates = [...offsets].map((offset) => wallAsUtc - offset).sort((a, b) => a - b);
  const valid = candidates.filter((instant) => timeZoneOffsetMs(instant, timeZone) === wallAsUtc - instant);
  if (valid.length === 1) {
    return valid[0];
  }

  if (policy === 'reject') {
    throw new InvalidOptimoveTimeError(
      input,
      valid.length === 0 ? `does not exist in ${timeZone} (clocks go forward)` : `occurs twice in ${timeZone}`,
    );
  }
  const choices = valid.length === 0 ? candidates : valid;

  return policy === 'earlier' ? choices[0] : choices[choices.length - 1];
}
