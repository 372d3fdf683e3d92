import { describe, expect, it } from 'vitest';
import { picoToNumber, picoToUsd, usdToPico } from './money.js';

describe('money', () => {
  it.each([
    ['0', 0n],
    ['1', 1_000_000_000_000n],
    ['0.000003', 3_000_000n],
    ['10.5', 10_500_000_000_000n],
    ['0.000000000001', 1n],
    ['-2.25', -2_250_000_000_000n],
    ['-0.000000000001', -1n],
    ['100', 100_000_000_000_000n],
    ['123456789012.000000000001', 123_456_789_012_000_000_000_001n],
    ['0.12345678901', 123_456_789_010n],
  ])('parses %s exactly', (text, pico) => {
    expect(usdToPico(text)).toBe(pico);
    expect(picoToUsd(pico)).toBe(text);
  });

  it('parses numbers through their shortest form, not binary expansion', () => {
    expect(usdToPico(0.1)).toBe(100_000_000_000n);
    expect(usdToPico(3e-6)).toBe(3_000_000n);
    expect(usdToPico(1e-7)).toBe(100_000n);
    expect(usdToPico(1.5e-7)).toBe(150_000n);
    expect(usdToPico(1e21)).toBe(10n ** 33n);
    expect(usdToPico(-2e-12)).toBe(-2n);
  });

  it('rejects more precision than a pico-dollar, and garbage', () => {
    expect(() => usdToPico('0.0000000000001')).toThrow(RangeError);
    // A number below a pico-dollar is refused like its text, not rounded to $0.
    expect(() => usdToPico(1e-13)).toThrow(RangeError);
    expect(() => usdToPico(1.5e-12)).toThrow(RangeError);
    expect(() => usdToPico('1e5')).toThrow(RangeError);
    expect(() => usdToPico(Number.NaN)).toThrow(RangeError);
  });

  it('sums a million tiny amounts exactly', () => {
    let total = 0n;
    for (let i = 0; i < 1_000_000; i++) total += usdToPico('0.000000375');
    expect(picoToUsd(total)).toBe('0.375');
    expect(picoToNumber(total)).toBe(0.375);
  });
});
