/**
 * Money is exact: amounts are integer pico-dollars (1e-12 USD) in a `bigint`. Every Anthropic
 * price, with any published multiplier, is a whole number of pico-dollars per token, so sums
 * of any length are exact; there is no floating-point arithmetic on money anywhere.
 */
export type Pico = bigint;

export const PICO_PER_USD = 1_000_000_000_000n;

/**
 * Parses a decimal USD amount (number or string, up to 12 decimals) into pico-dollars.
 *
 * @example
 * usdToPico('0.000003'); // 3_000_000n
 * usdToPico(10.5);       // 10_500_000_000_000n
 */
export function usdToPico(usd: number | string): Pico {
  const text = typeof usd === 'number' ? numberToPlain(usd) : usd.trim();
  const m = /^(-)?(\d+)(?:\.(\d{0,12}))?$/.exec(text);
  if (!m) throw new RangeError(`not a USD amount with at most 12 decimals: ${JSON.stringify(usd)}`);
  const pico = BigInt(m[2]) * PICO_PER_USD + BigInt((m[3] ?? '').padEnd(12, '0'));
  return m[1] ? -pico : pico;
}

/**
 * Formats pico-dollars as an exact decimal USD string, trailing zeros trimmed.
 *
 * @example
 * picoToUsd(3_000_000n); // '0.000003'
 */
export function picoToUsd(pico: Pico): string {
  const negative = pico < 0n;
  const abs = negative ? -pico : pico;
  const whole = abs / PICO_PER_USD;
  const frac = (abs % PICO_PER_USD).toString().padStart(12, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/**
 * Pico-dollars as a JS number of USD, for JSON APIs and metrics only (never for sums).
 *
 * @example
 * picoToNumber(1_500_000_000_000n); // 1.5
 */
export function picoToNumber(pico: Pico): number {
  return Number(picoToUsd(pico));
}

function numberToPlain(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite amount: ${n}`);
  // toFixed(12) would invent digits (0.1 → 0.100000000000000005551), and round 1e-13 to 0: go
  // through the shortest repr, moving the point of its exponent form by hand.
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const digits = m[2]! + (m[3] ?? '');
  const point = 1 + Number(m[4]);
  if (point <= 0) return `${m[1]}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return m[1] + digits + '0'.repeat(point - digits.length);
  return `${m[1]}${digits.slice(0, point)}.${digits.slice(point)}`;
}
