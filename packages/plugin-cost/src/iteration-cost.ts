import { normalizeUsage, readableUsage, type Pico, type Usage } from '@tollgate/core';
import { priceUsage, UnpricedUsageError } from './cost.js';
import type { PriceBook } from './price-book.js';

/** The cost of one response, its iterations included. */
export interface IterationCost {
  /** Exact pico-dollars; 0 when unpriced. */
  spend: Pico;
  /** Some part (the served model, an advisor, a speed or geo) has no price: none of it is booked. */
  unpriced: boolean;
  /** The model that served the turn: the last `fallback_message` iteration's, else the requested one. */
  servedModel: string;
  /** The first model (or usage option) without a price, for the log line. */
  missing?: string;
}

type Json = Record<string, unknown>;

/**
 * Prices a response's usage exactly, reading Anthropic's beta `usage.iterations[]`: the
 * top-level usage is the executor's (the served model's; with server-side fallback, the model
 * the last `fallback_message` names); each `advisor_message` carries its own model and tokens,
 * billed at that model's rates (the request's batch tier and inference geo apply, its speed
 * does not). One part without a price makes the whole response unpriced, never partly priced.
 *
 * @example
 * priceIterations(book, 'claude-sonnet-4-6', usage, new Date()).spend; // executor + advisor
 */
export function priceIterations(book: PriceBook, requested: string, usage: Usage, at: Date): IterationCost {
  const { servedModel, parts, unreadable } = usageParts(requested, usage);
  if (unreadable) return { spend: 0n, unpriced: true, servedModel, missing: unreadable };
  const batch = usage.serviceTier === 'batch';
  let spend = 0n;
  for (const [model, u] of parts) {
    const row = book.lookup(model, at);
    if (!row) return { spend: 0n, unpriced: true, servedModel, missing: model };
    try {
      spend += priceUsage(u, row, { batch }).total;
    } catch (err) {
      if (!(err instanceof UnpricedUsageError)) throw err;
      return { spend: 0n, unpriced: true, servedModel, missing: err.message };
    }
  }
  return { spend, unpriced: false, servedModel };
}

/**
 * A response's billable parts: [model, usage] for the served model's top-level usage, then one
 * per advisor iteration. `unreadable` names an advisor iteration whose model or tokens could
 * not be read (its cost is unknown).
 */
export function usageParts(requested: string, usage: Usage): { servedModel: string; parts: Array<[string, Usage]>; unreadable?: string } {
  const iterations = Array.isArray(usage.raw.iterations) ? (usage.raw.iterations as unknown[]).filter(isObject) : [];
  let servedModel = requested;
  for (const it of iterations) if (it.type === 'fallback_message' && typeof it.model === 'string') servedModel = it.model;
  const parts: Array<[string, Usage]> = [[servedModel, usage]];
  for (const it of iterations) {
    if (it.type !== 'advisor_message') continue;
    const model = typeof it.model === 'string' ? it.model : undefined;
    const own = readableUsage(normalizeUsage(it));
    if (!model || !own) return { servedModel, parts, unreadable: `advisor iteration ${model ?? 'without a model'}` };
    parts.push([model, { ...own, serviceTier: usage.serviceTier, inferenceGeo: own.inferenceGeo ?? usage.inferenceGeo }]);
  }
  return { servedModel, parts };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
