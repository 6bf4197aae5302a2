import { formatOptimoveTime, InvalidOptimoveTimeError, parseOptimoveTime, timeZoneOffsetMs } from '@app/optimove';

const iso = (date: Date): string => date.toISOString();
const at = (text: string): Date => new Date(text);

describe('Optimove times', () => {
  describe('Europe/London', () => {
    const zone = 'Europe/London';

    it('should read times either side of the spring change (01:00 GMT becomes 02:00 BST)', () => {
      expect(iso(parseOptimoveTime('2025-03-30 00:59:59', zone))).toBe('2025-03-30T00:59:59.000Z');
      expect(iso(parseOptimoveTime('2025-03-30 02:00:00', zone))).toBe('2025-03-30T01:00:00.000Z');
      expect(iso(parseOptimoveTime('2025-07-01 12:00:00', zone))).toBe('2025-07-01T11:00:00.000Z');
    });

    it('should read the skipped hour as the earlier instant by default, and as chosen', () => {
      expect(iso(parseOptimoveTime('2025-03-30 01:30:00', zone))).toBe('2025-03-30T00:30:00.000Z');
      expect(iso(parseOptimoveTime('2025-03-30 01:30:00', zone, { disambiguation: 'later' }))).toBe(
        '2025-03-30T01:30:00.000Z',
      );
      expect(() => parseOptimoveTime('2025-03-30 01:30:00', zone, { disambiguation: 'reject' })).toThrow(
        /does not exist in Europe\/London/,
      );
    });

    it('should read the repeated autumn hour as its first occurrence by default, and as chosen', () => {
      expect(iso(parseOptimoveTime('2025-10-26 00:59:59', zone))).toBe('2025-10-25T23:59:59.000Z');
      expect(iso(parseOptimoveTime('2025-10-26 01:30:00', zone))).toBe('2025-10-26T00:30:00.000Z');
      expect(iso(parseOptimoveTime('2025-10-26 01:30:00', zone, { disambiguation: 'later' }))).toBe(
        '2025-10-26T01:30:00.000Z',
      );
      expect(() => parseOptimoveTime('2025-10-26 01:30:00', zone, { disambiguation: 'reject' })).toThrow(
        /occurs twice/,
      );
      expect(iso(parseOptimoveTime('2025-10-26 02:00:00', zone))).toBe('2025-10-26T02:00:00.000Z');
    });

    it('should write times either side of both changes', () => {
      expect(formatOptimoveTime(at('2025-03-30T00:59:59Z'), zone)).toBe('2025-03-30 00:59:59');
      expect(formatOptimoveTime(at('2025-03-30T01:00:00Z'), zone)).toBe('2025-03-30 02:00:00');
      expect(formatOptimoveTime(at('2025-10-26T00:30:00Z'), zone)).toBe('2025-10-26 01:30:00');
      expect(formatOptimoveTime(at('2025-10-26T01:30:00Z'), zone)).toBe('2025-10-26 01:30:00');
      expect(formatOptimoveTime(at('2025-10-26T02:00:00.999Z'), zone)).toBe('2025-10-26 02:00:00');
    });
  });

  describe('America/New_York', () => {
    const zone = 'America/New_York';

    it('should read times either side of the spring change (02:00 EST becomes 03:00 EDT)', () => {
      expect(iso(parseOptimoveTime('2025-03-09 01:59:59', zone))).toBe('2025-03-09T06:59:59.000Z');
      expect(iso(parseOptimoveTime('2025-03-09 03:00:00', zone))).toBe('2025-03-09T07:00:00.000Z');
      expect(iso(parseOptimoveTime('2025-03-09 02:30:00', zone))).toBe('2025-03-09T06:30:00.000Z');
      expect(iso(parseOptimoveTime('2025-03-09 02:30:00', zone, { disambiguation: 'later' }))).toBe(
        '2025-03-09T07:30:00.000Z',
      );
    });

    it('should read times either side of the autumn change (02:00 EDT becomes 01:00 EST)', () => {
      expect(iso(parseOptimoveTime('2025-11-02 00:59:59', zone))).toBe('2025-11-02T04:59:59.000Z');
      expect(iso(parseOptimoveTime('2025-11-02 01:30:00', zone))).toBe('2025-11-02T05:30:00.000Z');
      expect(iso(parseOptimoveTime('2025-11-02 01:30:00', zone, { disambiguation: 'later' }))).toBe(
        '2025-11-02T06:30:00.000Z',
      );
      expect(iso(parseOptimoveTime('2025-11-02 02:00:00', zone))).toBe('2025-11-02T07:00:00.000Z');
    });

    it('should write times either side of both changes', () => {
      expect(formatOptimoveTime(at('2025-03-09T06:59:59Z'), zone)).toBe('2025-03-09 01:59:59');
      expect(formatOptimoveTime(at('2025-03-09T07:00:00Z'), zone)).toBe('2025-03-09 03:00:00');
      expect(formatOptimoveTime(at('2025-11-02T05:30:00Z'), zone)).toBe('2025-11-02 01:30:00');
      expect(formatOptimoveTime(at('2025-11-02T06:30:00Z'), zone)).toBe('2025-11-02 01:30:00');
      expect(formatOptimoveTime(at('2025-11-02T07:00:00Z'), zone)).toBe('2025-11-02 02:00:00');
    });

    it('should round-trip every quarter hour across both changes', () => {
      for (const start of ['2025-03-08T12:00:00Z', '2025-11-01T12:00:00Z']) {
        for (let step = 0; step < 4 * 48; step++) {
          const instant = new Date(Date.parse(start) + step * 15 * 60_000);
          const text = formatOptimoveTime(instant, zone);
          const earlier = parseOptimoveTime(text, zone);
          const later = parseOptimoveTime(text, zone, { disambiguation: 'later' });
          expect([earlier.getTime(), later.getTime()]).toContain(instant.getTime());
        }
      }
    });
  });

  it('should let an ISO 8601 offset win over the zone', () => {
    expect(iso(parseOptimoveTime('2025-10-26T01:30:00+01:00', 'America/New_York'))).toBe('2025-10-26T00:30:00.000Z');
    expect(iso(parseOptimoveTime('2025-10-26T01:30:00.250Z', 'Europe/London'))).toBe('2025-10-26T01:30:00.250Z');
    expect(iso(parseOptimoveTime('2025-10-26 01:30:00-0430', 'UTC'))).toBe('2025-10-26T06:00:00.000Z');
  });

  it('should tolerate a T separator, missing seconds and fractions without an offset', () => {
    expect(iso(parseOptimoveTime('2025-01-01T10:00', 'Europe/London'))).toBe('2025-01-01T10:00:00.000Z');
    expect(iso(parseOptimoveTime(' 2025-07-01 10:00:00.5 ', 'Europe/London'))).toBe('2025-07-01T09:00:00.500Z');
  });

  it('should refuse text that is not a real date-time', () => {
    for (const text of [
      '',
      'soon',
      '2025-02-30 10:00:00',
      '2025-13-01 10:00:00',
      '2025-01-01 24:00:00',
      '2025-1-1 1:00',
    ]) {
      expect(() => parseOptimoveTime(text, 'UTC')).toThrow(InvalidOptimoveTimeError);
    }
  });

  it('should give the zone offset at an instant', () => {
    expect(timeZoneOffsetMs(at('2025-07-01T00:00:00Z'), 'Europe/London')).toBe(3_600_000);
    expect(timeZoneOffsetMs(at('2025-01-01T00:00:00Z'), 'America/New_York')).toBe(-5 * 3_600_000);
  });
});
