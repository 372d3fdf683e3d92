import type { Pico, Usage } from '@tollgate/core';
import { ONE, multiply, scale, type Multiplier } from './multiplier.js';
import type { PriceRow, Rates } from './price-row.js';

export interface PriceOptions {
  /** Billed through the Message Batches API (also implied by `usage.serviceTier === 'batch'`). */
  batch: boolean;
}

/** Exact pico-dollars per line. */
export interface CostLines {
  input: Pico;
  output: Pico;
  cacheRead: Pico;
  cacheWrite5m: Pico;
  cacheWrite1h: Pico;
  webSearch: Pico;
}

export interface Cost {
  total: Pico;
  lines: CostLines;
  tier: 'standard' | 'long_context';
  /** The product of the inference-geo and speed multipliers applied to the token lines ("1", "1.1", "6.6"). */
  multiplier: string;
}

/**
 * Thrown when usage carries something the row has no price for (an `inference_geo` or
 * `speed` it does not list, or web searches with no web-search price): the request must be
 * recorded as unpriced, never billed at a guess.
 */
export class UnpricedUsageError extends Error {
  readonly code = 'TG_ERR_COST_UNPRICED_USAGE';
  constructor(
    readonly model: string,
    readonly reason: 'inference_geo' | 'speed' | 'web_search',
    readonly value: string,
  ) {
    super(`${model} has no price for ${reason} ${JSON.stringify(value)}`);
    this.name = 'UnpricedUsageError';
  }
}

/**
 * Prices one request's usage with the row in force, exactly. Above the row's long-context
 * threshold (prompt = input + cache writes + cache reads) every line is billed at the
 * long-context rates; batch uses the batch rates (cache lines at 50%); the geo and speed
 * multipliers scale every token line. Web search is $ per request, unscaled. A
 * `serviceTier` of 'priority' is priced at the standard list rates: Anthropic sells Priority
 * Tier as a capacity commitment, with no separate per-token list price.
 *
 * @example
 * // 1,000 input + 500 output tokens on Claude Sonnet 4.5 ($3 / $15 per MTok)
 * const cost = priceUsage(usage, book.lookup('claude-sonnet-4-5', new Date())!, { batch: false });
 * picoToUsd(cost.total); // '0.0105'
 */
export function priceUsage(usage: Usage, row: PriceRow, opts: PriceOptions): Cost {
  const input = tokens(usage.inputTokens, 'inputTokens');
  const output = tokens(usage.outputTokens, 'outputTokens');
  const read = tokens(usage.cacheReadTokens, 'cacheReadTokens');
  const w1 = tokens(usage.cacheWrite1hTokens, 'cacheWrite1hTokens');
  let w5 = tokens(usage.cacheWrite5mTokens, 'cacheWrite5mTokens');
  // Writes reported without the 5m/1h split are 5m writes, the default TTL.
  const unsplit = tokens(usage.cacheWriteTokens, 'cacheWriteTokens') - w5 - w1;
  if (unsplit > 0n) w5 += unsplit;
  const searches = tokens(usage.webSearchRequests, 'webSearchRequests');

  const lc = row.longContext;
  const long = lc !== undefined && input + w5 + w1 + read > BigInt(lc.thresholdPromptTokens);
  const tierRates = long ? lc : row.base;
  const rates = opts.batch || usage.serviceTier === 'batch' ? tierRates.batch : tierRates.standard;
  const m = multiply(modifier(row, 'inference_geo', usage.inferenceGeo), modifier(row, 'speed', usage.speed));

  let webSearch = 0n;
  if (searches > 0n) {
    if (row.webSearchPerRequest === undefined) throw new UnpricedUsageError(row.model, 'web_search', String(searches));
    webSearch = searches * row.webSearchPerRequest;
  }
  const lines: CostLines = {
    input: input * rate(rates, 'input', m),
    output: output * rate(rates, 'output', m),
    cacheRead: read * rate(rates, 'cacheRead', m),
    cacheWrite5m: w5 * rate(rates, 'cacheWrite5m', m),
    cacheWrite1h: w1 * rate(rates, 'cacheWrite1h', m),
    webSearch,
  };
  const total = lines.input + lines.output + lines.cacheRead + lines.cacheWrite5m + lines.cacheWrite1h + lines.webSearch;
  return { total, lines, tier: long ? 'long_context' : 'standard', multiplier: m.text };
}

function tokens(n: number, field: string): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`usage.${field} must be a non-negative integer, got ${n}`);
  return BigInt(n);
}

function modifier(row: PriceRow, kind: 'inference_geo' | 'speed', value: string | undefined): Multiplier {
  if (value === undefined) return ONE;
  const m = (kind === 'inference_geo' ? row.inferenceGeo : row.speed).get(value);
  if (m) return m;
  if (value === (kind === 'inference_geo' ? 'global' : 'standard')) return ONE;
  throw new UnpricedUsageError(row.model, kind, value);
}

function rate(rates: Rates, line: keyof Rates, m: Multiplier): Pico {
  const scaled = scale(rates[line], m);
  // The book checks every rate × multiplier at load; this guards rows built elsewhere.
  if (scaled === undefined) throw new RangeError(`${line} rate × ${m.text} is not a whole number of pico-dollars`);
  return scaled;
}
