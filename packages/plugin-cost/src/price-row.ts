import { usdToPico, type Pico } from '@tollgate/core';
import { ONE, multiply, parseMultiplier, scale, type Multiplier } from './multiplier.js';
import { RATE_FIELDS, type Amount, type PriceRowInput, type RateFieldsInput } from './price-schema.js';

/** Pico-dollars per token for each token line. */
export interface Rates {
  readonly input: Pico;
  readonly output: Pico;
  readonly cacheWrite5m: Pico;
  readonly cacheWrite1h: Pico;
  readonly cacheRead: Pico;
}

/** Standard and batch rates of one tier; batch cache rates are half the standard ones. */
export interface RateTier {
  readonly standard: Rates;
  readonly batch: Rates;
}

export interface LongContextTier extends RateTier {
  /** A request whose prompt (input + cache writes + cache reads) exceeds this is billed wholly at this tier. */
  readonly thresholdPromptTokens: number;
}

/** One price row in force for a model, with every rate in exact pico-dollars per token. */
export interface PriceRow {
  /** The canonical model id (aliases and dated ids resolve to it). */
  readonly model: string;
  /** ISO date (UTC) from which the row applies; undefined for a first row without a date. */
  readonly effectiveFrom: string | undefined;
  readonly source: string | undefined;
  /** The row rests on independent trackers only (its source says which rates). */
  readonly provisional: boolean;
  readonly base: RateTier;
  readonly longContext: LongContextTier | undefined;
  /** `usage.inference_geo` value → multiplier on every token line ('global' is always 1). */
  readonly inferenceGeo: ReadonlyMap<string, Multiplier>;
  /** `usage.speed` value → multiplier on every token line ('standard' is always 1). */
  readonly speed: ReadonlyMap<string, Multiplier>;
  /** Pico-dollars per web search request; undefined when no price is configured. */
  readonly webSearchPerRequest: Pico | undefined;
}

const PICO_PER_MTOK_TOKEN = 1_000_000n;

/**
 * Builds one row from its file form, pushing a message per problem onto `errors` (then
 * returning undefined). `path` names the row in those messages.
 */
export function buildRow(input: PriceRowInput, ctx: { model: string; path: string; webSearchPerRequest: Pico | undefined; errors: string[] }): PriceRow | undefined {
  const before = ctx.errors.length;
  const err = (where: string, msg: string) => ctx.errors.push(`${ctx.path}${where}: ${msg}`);
  const base = tier(input, '', err);
  let longContext: LongContextTier | undefined;
  if (input.long_context) {
    const lc = input.long_context;
    const t = tier(lc, '/long_context', err, true);
    if (t) longContext = { ...t, thresholdPromptTokens: lc.threshold_prompt_tokens };
  }
  const inferenceGeo = multipliers(input.multipliers?.inference_geo, '/multipliers/inference_geo', err);
  const speed = multipliers(input.multipliers?.speed, '/multipliers/speed', err);
  if (!base || ctx.errors.length > before) return undefined;
  const row: PriceRow = {
    model: ctx.model,
    effectiveFrom: input.effective_from,
    source: input.source,
    provisional: input.provisional === true,
    base,
    longContext,
    inferenceGeo,
    speed,
    webSearchPerRequest: ctx.webSearchPerRequest,
  };
  checkWholePico(row, err);
  return ctx.errors.length > before ? undefined : row;
}

/**
 * A USD-per-MTok amount as exact pico-dollars per token, or an error message.
 *
 * @example
 * perToken(3.75); // 3_750_000n
 */
export function perToken(value: Amount): Pico | string {
  let perMTok: Pico;
  try {
    perMTok = usdToPico(value);
  } catch {
    return `${JSON.stringify(value)} is not a USD amount (up to 12 decimals)`;
  }
  if (perMTok < 0n) return `${JSON.stringify(value)} is negative`;
  if (perMTok % PICO_PER_MTOK_TOKEN !== 0n) return `$${String(value)}/MTok is not a whole number of pico-dollars per token`;
  return perMTok / PICO_PER_MTOK_TOKEN;
}

type Err = (where: string, msg: string) => void;
type RateField = (typeof RATE_FIELDS)[number];

/**
 * Standard and batch rates of a tier. With `defaultBatch` (the long-context tier) a missing
 * batch input/output rate is 50% of the standard one, as Anthropic publishes it.
 */
function tier(input: Partial<RateFieldsInput>, where: string, err: Err, defaultBatch = false): RateTier | undefined {
  const pico: Partial<Record<RateField, Pico>> = {};
  for (const field of RATE_FIELDS) {
    const value = input[field];
    if (value === undefined) {
      if (!(defaultBatch && field.startsWith('batch_'))) err(where, `missing "${field}"`);
      continue;
    }
    const p = perToken(value);
    if (typeof p === 'string') err(`${where}/${field}`, p);
    else pico[field] = p;
  }
  const half = (field: RateField, from: RateField): Pico | undefined => {
    const p = pico[from];
    if (p === undefined) return undefined;
    if (p % 2n !== 0n) err(`${where}/${field}`, `the batch rate (50% of $${String(input[from])}/MTok) is not a whole number of pico-dollars per token`);
    return p / 2n;
  };
  if (defaultBatch) {
    pico.batch_input ??= half('batch_input', 'input');
    pico.batch_output ??= half('batch_output', 'output');
  }
  const { input: i, output: o, cache_write_5m: w5, cache_write_1h: w1, cache_read: r, batch_input: bi, batch_output: bo } = pico;
  // Anthropic's batch discount is 50% of all usage, cache writes and reads included.
  const bw5 = half('cache_write_5m', 'cache_write_5m');
  const bw1 = half('cache_write_1h', 'cache_write_1h');
  const br = half('cache_read', 'cache_read');
  if (i === undefined || o === undefined || w5 === undefined || w1 === undefined || r === undefined) return undefined;
  if (bi === undefined || bo === undefined || bw5 === undefined || bw1 === undefined || br === undefined) return undefined;
  return {
    standard: { input: i, output: o, cacheWrite5m: w5, cacheWrite1h: w1, cacheRead: r },
    batch: { input: bi, output: bo, cacheWrite5m: bw5, cacheWrite1h: bw1, cacheRead: br },
  };
}

function multipliers(map: Record<string, Amount> | undefined, where: string, err: Err): ReadonlyMap<string, Multiplier> {
  const out = new Map<string, Multiplier>();
  for (const [key, value] of Object.entries(map ?? {})) {
    try {
      out.set(key, parseMultiplier(value));
    } catch (e) {
      err(`${where}/${key}`, (e as Error).message);
    }
  }
  return out;
}

/** Every rate, under every combination of the row's multipliers, must stay a whole number of pico. */
function checkWholePico(row: PriceRow, err: Err): void {
  const combos: Array<[string, Multiplier]> = [];
  for (const [g, gm] of [['', ONE] as const, ...row.inferenceGeo]) {
    for (const [s, sm] of [['', ONE] as const, ...row.speed]) {
      combos.push([[g && `inference_geo ${g}`, s && `speed ${s}`].filter(Boolean).join(' + '), multiply(gm, sm)]);
    }
  }
  const tiers: Array<[string, RateTier]> = [['', row.base]];
  if (row.longContext) tiers.push(['/long_context', row.longContext]);
  for (const [where, t] of tiers) {
    for (const [mode, rates] of [['', t.standard], ['batch ', t.batch]] as const) {
      for (const [line, rate] of Object.entries(rates) as Array<[string, Pico]>) {
        for (const [name, m] of combos) {
          if (name && scale(rate, m) === undefined) {
            err(where, `${mode}${line} × ${m.text} (${name}) is not a whole number of pico-dollars per token`);
          }
        }
      }
    }
  }
}
