import { describe, expect, it } from 'vitest';
import { addDuration, nextBoundary, parseDuration } from './durations.js';

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
});
