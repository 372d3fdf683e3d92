import { GatewayError, picoToUsd, usdToPico, type Pico } from '@tollgate/core';
import { buildRow, type PriceRow, type Rates } from './price-row.js';
import { checkPriceFile, type Amount, type PriceFileInput, type PriceRowInput } from './price-schema.js';

export interface PriceBookOverrides {
  /** Further price files (the shipped file's shape), merged in order after the base data. */
  extraFiles?: ReadonlyArray<{ label: string; data: unknown }>;
  /**
   * Model entries merged last (`{ "claude-x": { prices: [...] } }`): a new id adds a model; a
   * known canonical id gets these price rows instead of its own (negotiated rates), keeping
   * its aliases. Naming an alias instead of the canonical id is an error.
   */
  models?: unknown;
}

/** Rates of one row in USD per million tokens, as exact decimal strings (for printing). */
export interface RatesListing {
  input: string;
  output: string;
  cacheWrite5m: string;
  cacheWrite1h: string;
  cacheRead: string;
}

export interface RowListing {
  effectiveFrom: string | undefined;
  unpriced: boolean;
  /** The row rests on independent trackers only. */
  provisional: boolean;
  source: string | undefined;
  standard?: RatesListing;
  batch?: RatesListing;
  longContext?: { thresholdPromptTokens: number; standard: RatesListing; batch: RatesListing };
  inferenceGeo: Record<string, string>;
  speed: Record<string, string>;
}

export interface ModelListing {
  id: string;
  aliases: string[];
  status?: string;
  notes?: string;
  rows: RowListing[];
}

export interface PriceBook {
  /**
   * The row in force for `model` at `at`: exact id, alias, or a dated id `claude-x-YYYYMMDD`
   * whose base `claude-x` is known. Undefined when the model is unknown or unpriced then.
   */
  lookup(model: string, at: Date): PriceRow | undefined;
  /** The canonical id `model` resolves to (same rules as lookup), or undefined. */
  canonical(model: string): string | undefined;
  /** Every model with its rows, sorted by id, for printing (`tollgate prices`). */
  models(): ModelListing[];
}

interface DatedRow {
  /** Epoch ms of `effective_from` at 00:00 UTC; undefined for a first row without a date. */
  from: number | undefined;
  row: PriceRow | undefined;
  listing: RowListing;
}

interface Entry {
  id: string;
  aliases: string[];
  status?: string;
  notes?: string;
  rows: DatedRow[];
}

interface MergedModel {
  id: string;
  path: string;
  aliases: string[];
  status?: string;
  notes?: string;
  prices: PriceRowInput[];
}

const DATED_ID = /^(.+)-(\d{8})$/;
const UNPRICED_KEYS = new Set(['effective_from', 'unpriced', 'source', 'notes', 'provisional']);

/**
 * Validates and indexes price data (the shipped file, extra files, then per-model overrides).
 * Every problem is reported at once in one TG_ERR_CONFIG error; a price that is not a whole
 * number of pico-dollars per token is a data error.
 *
 * @example
 * const book = createPriceBook(anthropicPrices);
 * book.lookup('claude-sonnet-4-5', new Date())?.base.standard.input; // 3_000_000n
 */
export function createPriceBook(data: unknown, overrides: PriceBookOverrides = {}): PriceBook {
  const errors: string[] = [];
  const layers: Array<{ label: string; file: PriceFileInput }> = [];
  const addLayer = (label: string, value: unknown, modelsOnly = false) => {
    const found = checkPriceFile(value, label, modelsOnly);
    if (found.length > 0) errors.push(...found);
    else layers.push({ label, file: modelsOnly ? { models: value as PriceFileInput['models'] } : (value as PriceFileInput) });
  };
  addLayer('price data', data);
  for (const extra of overrides.extraFiles ?? []) addLayer(extra.label, extra.data);
  if (overrides.models !== undefined) addLayer('overrides', overrides.models, true);

  const { models, webSearch } = merge(layers, errors);
  const webSearchPerRequest = webSearch && perRequest(webSearch.value, webSearch.path, errors);
  const index = new Map<string, Entry>();
  const entries: Entry[] = [];
  for (const m of models.values()) {
    const entry: Entry = { id: m.id, aliases: m.aliases, status: m.status, notes: m.notes, rows: buildRows(m, webSearchPerRequest, errors) };
    entries.push(entry);
    index.set(m.id, entry);
    for (const alias of m.aliases) index.set(alias, entry);
  }
  if (errors.length > 0) {
    throw new GatewayError('TG_ERR_CONFIG', `invalid price data:\n  - ${errors.join('\n  - ')}`);
  }
  entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const resolve = (model: string): Entry | undefined => {
    const exact = index.get(model);
    if (exact) return exact;
    const dated = DATED_ID.exec(model);
    return dated && !DATED_ID.test(dated[1]) ? index.get(dated[1]) : undefined;
  };

  return {
    lookup(model, at) {
      const t = at.getTime();
      if (Number.isNaN(t)) throw new TypeError('lookup needs a valid date');
      const rows = resolve(model)?.rows;
      if (!rows) return undefined;
      for (let i = rows.length - 1; i >= 0; i--) {
        const r = rows[i];
        if (r.from === undefined || r.from <= t) return r.row;
      }
      return undefined;
    },
    canonical: (model) => resolve(model)?.id,
    models: () =>
      entries.map((e) => ({
        id: e.id,
        aliases: [...e.aliases],
        ...(e.status === undefined ? {} : { status: e.status }),
        ...(e.notes === undefined ? {} : { notes: e.notes }),
        rows: e.rows.map((r) => structuredClone(r.listing)),
      })),
  };
}

/** Later layers replace a model's price rows; aliases accumulate and must stay unambiguous. */
function merge(layers: Array<{ label: string; file: PriceFileInput }>, errors: string[]) {
  const models = new Map<string, MergedModel>();
  const aliasOwner = new Map<string, string>();
  let webSearch: { value: Amount; path: string } | undefined;
  for (const { label, file } of layers) {
    const ws = file.server_tools?.web_search;
    if (ws) webSearch = { value: ws.per_1000_requests, path: `${label}: /server_tools/web_search/per_1000_requests` };
    for (const [id, e] of Object.entries(file.models ?? {})) {
      const path = `${label}: /models/${id}`;
      const owner = aliasOwner.get(id);
      if (owner !== undefined) {
        errors.push(`${path}: "${id}" is an alias of "${owner}"; use the canonical id`);
        continue;
      }
      const m: MergedModel = { ...(models.get(id) ?? { id, aliases: [] }), path, prices: e.prices };
      if (e.status !== undefined) m.status = e.status;
      if (e.notes !== undefined) m.notes = e.notes;
      for (const alias of e.aliases ?? []) {
        const other = aliasOwner.get(alias);
        if (alias === id || models.has(alias)) errors.push(`${path}/aliases: "${alias}" is a model id, not an alias`);
        else if (other !== undefined && other !== id) errors.push(`${path}/aliases: "${alias}" is already an alias of "${other}"`);
        else if (other === undefined) {
          aliasOwner.set(alias, id);
          m.aliases = [...m.aliases, alias];
        }
      }
      models.set(id, m);
    }
  }
  return { models, webSearch };
}

function buildRows(m: MergedModel, webSearchPerRequest: Pico | undefined, errors: string[]): DatedRow[] {
  const rows: DatedRow[] = [];
  let previous: number | undefined;
  m.prices.forEach((input, i) => {
    const path = `${m.path}/prices/${i}`;
    let from: number | undefined;
    if (input.effective_from === undefined) {
      if (i > 0) errors.push(`${path}: only the first row may omit effective_from`);
    } else {
      from = parseDate(input.effective_from);
      if (from === undefined) errors.push(`${path}/effective_from: "${input.effective_from}" is not a date`);
      else if (previous !== undefined && from <= previous) errors.push(`${path}/effective_from: rows must be in increasing date order`);
      previous = from ?? previous;
    }
    if (input.unpriced) {
      const extra = Object.keys(input).filter((k) => !UNPRICED_KEYS.has(k));
      if (extra.length > 0) errors.push(`${path}: an unpriced row carries no prices (found ${extra.join(', ')})`);
      rows.push({ from, row: undefined, listing: { effectiveFrom: input.effective_from, unpriced: true, provisional: input.provisional === true, source: input.source, inferenceGeo: {}, speed: {} } });
      return;
    }
    const row = buildRow(input, { model: m.id, path, webSearchPerRequest, errors });
    if (row) rows.push({ from, row, listing: listRow(row) });
  });
  return rows;
}

function parseDate(date: string): number | undefined {
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== date ? undefined : t;
}

function perRequest(per1000: Amount, path: string, errors: string[]): Pico | undefined {
  let pico: Pico;
  try {
    pico = usdToPico(per1000);
  } catch {
    errors.push(`${path}: ${JSON.stringify(per1000)} is not a USD amount`);
    return undefined;
  }
  if (pico >= 0n && pico % 1000n === 0n) return pico / 1000n;
  errors.push(`${path}: $${String(per1000)} per 1,000 is not a whole, non-negative number of pico-dollars per request`);
  return undefined;
}

function listRow(row: PriceRow): RowListing {
  const lc = row.longContext;
  return {
    effectiveFrom: row.effectiveFrom,
    unpriced: false,
    provisional: row.provisional,
    source: row.source,
    standard: listRates(row.base.standard),
    batch: listRates(row.base.batch),
    ...(lc ? { longContext: { thresholdPromptTokens: lc.thresholdPromptTokens, standard: listRates(lc.standard), batch: listRates(lc.batch) } } : {}),
    inferenceGeo: Object.fromEntries([...row.inferenceGeo].map(([k, m]) => [k, m.text])),
    speed: Object.fromEntries([...row.speed].map(([k, m]) => [k, m.text])),
  };
}

function listRates(r: Rates): RatesListing {
  const perMTok = (p: Pico) => picoToUsd(p * 1_000_000n);
  return { input: perMTok(r.input), output: perMTok(r.output), cacheWrite5m: perMTok(r.cacheWrite5m), cacheWrite1h: perMTok(r.cacheWrite1h), cacheRead: perMTok(r.cacheRead) };
}
