/**
 * Optimove writes times as 'YYYY-MM-DD HH:MM:SS' in the site's zone. No date library is available, so the
 * conversion is done with Intl.DateTimeFormat, which knows every zone's daylight-saving rules.
 */
const LOCAL_PATTERN = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
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

interface LocalFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localFields(epochMs: number, timeZone: string): LocalFields {
  const fields: LocalFields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(new Date(epochMs))) {
    if (part.type in fields) {
      fields[part.type as keyof LocalFields] = Number(part.value);
    }
  }

  return fields;
}

function fieldsAsUtc(f: LocalFields): number {
  // Date.UTC maps years 0..99 to 1900.., so set the full year explicitly.
  const date = new Date(Date.UTC(2000, f.month - 1, f.day, f.hour, f.minute, f.second));
  date.setUTCFullYear(f.year);

  return date.getTime();
}

/** True when the runtime knows the IANA zone. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);

    return true;
  } catch {
    return false;
  }
}

/** Offset of the zone from UTC at an instant, in milliseconds (positive east of Greenwich). */
export function zoneOffsetMs(epochMs: number, timeZone: string): number {
  const wholeSecond = Math.floor(epochMs / 1000) * 1000;

  return fieldsAsUtc(localFields(wholeSecond, timeZone)) - wholeSecond;
}

/** Formats an instant as 'YYYY-MM-DD HH:MM:SS' in the zone (milliseconds are dropped). */
export function formatZoned(epochMs: number, timeZone: string): string {
  const f = localFields(epochMs, timeZone);
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

  return `${pad(f.year, 4)}-${pad(f.month)}-${pad(f.day)} ${pad(f.hour)}:${pad(f.minute)}:${pad(f.second)}`;
}

/**
 * Reads 'YYYY-MM-DD HH:MM:SS' as a wall-clock time in the zone. A time that occurs twice (clocks going back)
 * resolves to the earlier instant; a time that never occurs (clocks going forward) is moved forward by the
 * length of the gap. Returns undefined for text that is not such a time.
 */
export function parseZoned(text: string, timeZone: string): number | undefined {
  const match = LOCAL_PATTERN.exec(text);
  if (!match) {
    return undefined;
  }
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  const fields: LocalFields = { year, month, day, hour, minute, second };
  const asUtc = fieldsAsUtc(fields);
  const check = new Date(asUtc);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }

  const dayMs = 86_400_000;
  const offsetBefore = zoneOffsetMs(asUtc - dayMs, timeZone);
  const candidateOffsets = new Set([
    offsetBefore,
    zoneOffsetMs(asUtc, timeZone),
    zoneOffsetMs(asUtc + dayMs, timeZone),
  ]);
  const valid = [...candidateOffsets]
    .map((offset) => asUtc - offset)
    .filter((instant) => fieldsAsUtc(localFields(instant, timeZone)) === asUtc);
  if (valid.length > 0) {
    return Math.min(...valid);
  }

  return asUtc - offsetBefore;
}

/** Reads an Optimove time: 'YYYY-MM-DD HH:MM:SS' in the zone, or ISO 8601 with an explicit offset or Z. */
export function parseOptimoveTime(text: string, timeZone: string): number | undefined {
  const zoned = parseZoned(text, timeZone);
  if (zoned !== undefined) {
    return zoned;
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(text)) {
    return undefined;
  }
  const epochMs = Date.parse(text);

  return Number.isNaN(epochMs) ? undefined : epochMs;
}
