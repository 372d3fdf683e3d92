import type { Pico } from '@tollgate/core';

/** An exact decimal multiplier: `num / den`, `den` a power of ten; `text` is its decimal form. */
export interface Multiplier {
  readonly text: string;
  readonly num: bigint;
  readonly den: bigint;
}

export const ONE: Multiplier = Object.freeze({ text: '1', num: 1n, den: 1n });

/**
 * Parses a positive decimal multiplier ("1.1", 6) without floating point: a number goes
 * through its shortest decimal string.
 *
 * @example
 * parseMultiplier('1.1'); // { text: '1.1', num: 11n, den: 10n }
 */
export function parseMultiplier(value: string | number): Multiplier {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new RangeError(`not a decimal multiplier: ${JSON.stringify(value)}`);
  const frac = m[2] ?? '';
  const num = BigInt(m[1] + frac);
  if (num === 0n) throw new RangeError(`a multiplier must be greater than 0: ${JSON.stringify(value)}`);
  return normalize(num, 10n ** BigInt(frac.length));
}

/**
 * The exact product of two multipliers.
 *
 * @example
 * multiply(parseMultiplier('1.1'), parseMultiplier('6')).text; // '6.6'
 */
export function multiply(a: Multiplier, b: Multiplier): Multiplier {
  if (a === ONE) return b;
  if (b === ONE) return a;
  return normalize(a.num * b.num, a.den * b.den);
}

/**
 * `pico × multiplier` when it is a whole number of pico-dollars, otherwise undefined.
 *
 * @example
 * scale(500_000n, parseMultiplier('1.1')); // 550_000n
 */
export function scale(pico: Pico, m: Multiplier): Pico | undefined {
  const product = pico * m.num;
  return product % m.den === 0n ? product / m.den : undefined;
}

function normalize(num: bigint, den: bigint): Multiplier {
  while (den > 1n && num % 10n === 0n) {
    num /= 10n;
    den /= 10n;
  }
  const decimals = den.toString().length - 1;
  const digits = num.toString().padStart(decimals + 1, '0');
  const text = decimals === 0 ? digits : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
  return { text, num, den };
}
