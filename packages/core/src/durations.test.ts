import { describe, expect, it } from 'vitest';
import { addDuration, nextBoundary, parseDuration, windowAt } from './durations.js';

describe('durations', () => {
  it.each([
    ['30s', { months: 0, ms: 30_000 }],
    ['15m', { months: 0, ms: 900_000 }],
    ['1h', { months: 0, ms: 3_600_000 }],
    ['1d', { months: 0, ms: 86_400_000 }],
    ['30d', { months: 0, ms: 2_592_000_000 }],
    ['2w', { months: 0, ms: 1_209_600_000 }],
    ['1mo', { months: 1, ms: 0 }],
  ])('parses %s', (text, expected) => {
    expect(parseDuration(text)).toEqual(expected);
  });

  it.each(['', '1', 'h', '0d', '1y', '-1d', '1.5h'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('adds calendar months, clamping to the last day', () => {
    expect(new Date(addDuration(Date.UTC(2026, 0, 31, 12), { months: 1, ms: 0 })).toISOString()).toBe('2026-02-28T12:00:00.000Z');
    expect(new Date(addDuration(Date.UTC(2026, 10, 15), { months: 3, ms: 0 })).toISOString()).toBe('2027-02-15T00:00:00.000Z');
  });

  it('finds the next boundary after now', () => {
    expect(nextBoundary(1000, { months: 0, ms: 100 }, 1000)).toBe(1100);
    expect(nextBoundary(1000, { months: 0, ms: 100 }, 1250)).toBe(1300);
    expect(nextBoundary(Date.UTC(2026, 0, 1), { months: 1, ms: 0 }, Date.UTC(2026, 2, 5))).toBe(Date.UTC(2026, 3, 1));
  });

  it('finds the window now is in, [start, end)', () => {
    const day = { months: 0, ms: 86_400_000 };
    expect(windowAt(0, day, 0)).toEqual({ start: 0, end: 86_400_000 });
    expect(windowAt(0, day, 86_400_000 * 3 + 5)).toEqual({ start: 86_400_000 * 3, end: 86_400_000 * 4 });
    expect(windowAt(1000, day, 999)).toEqual({ start: 1000, end: 1000 + 86_400_000 });
    const month = { months: 1, ms: 0 };
    expect(windowAt(Date.UTC(2026, 0, 15), month, Date.UTC(2026, 2, 15))).toEqual({ start: Date.UTC(2026, 2, 15), end: Date.UTC(2026, 3, 15) });
    expect(windowAt(Date.UTC(2026, 0, 15), month, Date.UTC(2026, 2, 14, 23))).toEqual({ start: Date.UTC(2026, 1, 15), end: Date.UTC(2026, 2, 15) });
  });
});
