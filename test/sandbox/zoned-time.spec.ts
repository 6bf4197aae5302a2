import { formatZoned, parseOptimoveTime, parseZoned } from '../../apps/sandbox/src';

describe('zoned time', () => {
  it('should format an instant in the zone, including summer time', () => {
    expect(formatZoned(Date.parse('2025-01-15T12:34:56.789Z'), 'Europe/London')).toBe('2025-01-15 12:34:56');
    expect(formatZoned(Date.parse('2025-07-15T12:34:56Z'), 'Europe/London')).toBe('2025-07-15 13:34:56');
    expect(formatZoned(Date.parse('2025-07-15T12:34:56Z'), 'America/New_York')).toBe('2025-07-15 08:34:56');
    expect(formatZoned(Date.parse('2025-07-15T00:30:00Z'), 'Asia/Kolkata')).toBe('2025-07-15 06:00:00');
    expect(formatZoned(Date.parse('2025-07-15T23:30:00Z'), 'UTC')).toBe('2025-07-15 23:30:00');
  });

  it('should read back every formatted time across a daylight-saving change', () => {
    const windows = [
      Date.parse('2025-03-29T22:00:00Z'),
      Date.parse('2025-11-01T22:00:00Z'),
      Date.parse('2025-04-05T10:00:00Z'),
    ];
    for (const t of windows.flatMap((start) => Array.from({ length: 192 }, (_, i) => start + i * 15 * 60_000))) {
      for (const zone of ['Europe/London', 'America/New_York', 'Australia/Sydney']) {
        const local = formatZoned(t, zone);
        const back = parseZoned(local, zone);
        // A repeated hour reads as its first occurrence, so either the same instant or one hour earlier.
        expect([t, t - 3_600_000]).toContain(back);
        expect(formatZoned(back!, zone)).toBe(local);
      }
    }
  });

  it('should resolve a repeated time to the first occurrence and a skipped time forward', () => {
    // London: clocks go back at 02:00 BST on 2025-10-26 (01:30 happens twice), forward at 01:00 GMT on 2025-03-30.
    expect(parseZoned('2025-10-26 01:30:00', 'Europe/London')).toBe(Date.parse('2025-10-26T00:30:00Z'));
    expect(parseZoned('2025-03-30 01:30:00', 'Europe/London')).toBe(Date.parse('2025-03-30T01:30:00Z'));
    expect(formatZoned(Date.parse('2025-03-30T01:30:00Z'), 'Europe/London')).toBe('2025-03-30 02:30:00');
    expect(parseZoned('2025-11-02 01:30:00', 'America/New_York')).toBe(Date.parse('2025-11-02T05:30:00Z'));
  });

  it('should refuse text that is not a valid time and accept ISO with an offset', () => {
    expect(parseZoned('2025-02-30 10:00:00', 'UTC')).toBeUndefined();
    expect(parseZoned('2025-01-01 24:00:00', 'UTC')).toBeUndefined();
    expect(parseZoned('yesterday', 'UTC')).toBeUndefined();
    expect(parseOptimoveTime('2025-01-01T10:00:00+02:00', 'Europe/London')).toBe(Date.parse('2025-01-01T08:00:00Z'));
    // Without an offset the time is wall-clock time in the zone.
    expect(parseOptimoveTime('2025-07-01T10:00:00', 'Europe/London')).toBe(Date.parse('2025-07-01T09:00:00Z'));
  });
});
