import { GatewayError, type Pico, type RequestContext, type Usage } from '@tollgate/core';
import { priceUsage, UnpricedUsageError } from './cost.js';
import { usageParts } from './iteration-cost.js';
import type { PriceBook } from './price-book.js';

/**
 * What a budgeted key's request for something the book cannot price does: `refuse` it before
 * it goes upstream (the default), or let it through and `estimate` its cost.
 */
export type UnpricedPolicy = 'refuse' | 'estimate';

const FAMILIES = ['opus', 'sonnet', 'haiku', 'fable', 'mythos'] as const;

/** The model family (`opus`, `sonnet`, …) named in a model id, or undefined. */
export function familyOf(model: string): string | undefined {
  const parts = model.split(/[-_.@]/);
  return FAMILIES.find((f) => parts.includes(f));
}

/**
 * An upper estimate of an unpriced response: its usage priced at every row in force at `at`
 * of every model in its family, the most expensive result. Undefined when the model names no
 * known family or no row of it can price the usage.
 *
 * @example
 * estimateCost(book, 'claude-opus-9', usage, new Date()); // priced as the dearest Opus row
 */
export function estimateCost(book: PriceBook, model: string, usage: Usage, at: Date): Pico | undefined {
  const family = familyOf(model);
  if (!family) return undefined;
  let most: Pico | undefined;
  for (const m of book.models()) {
    if (familyOf(m.id) !== family) continue;
    const row = book.lookup(m.id, at);
    if (!row) continue;
    try {
      const total = priceUsage(usage, row, { batch: usage.serviceTier === 'batch' }).total;
      if (most === undefined || total > most) most = total;
    } catch (err) {
      if (!(err instanceof UnpricedUsageError)) throw err;
    }
  }
  return most;
}

/**
 * An upper estimate of a whole response (each part, advisors included, at the dearest row of
 * its family), or undefined when some part cannot be estimated.
 */
export function estimateResponse(book: PriceBook, requested: string, usage: Usage, at: Date): Pico | undefined {
  const { parts, unreadable } = usageParts(requested, usage);
  if (unreadable) return undefined;
  let total = 0n;
  for (const [model, u] of parts) {
    const part = estimateCost(book, model, u, at);
    if (part === undefined) return undefined;
    total += part;
  }
  return total;
}

/**
 * Before a budgeted key's request goes upstream: the first thing it asks for that the book
 * has no price for at `at` (a model, an advisor tool's model, a `speed` or `inference_geo`),
 * or undefined when all of it is priced. Batches are checked per requested model.
 */
export function unpricedAsk(ctx: RequestContext, book: PriceBook, at: Date): string | undefined {
  const models = ctx.route.kind === 'messages' ? (ctx.route.model ? [ctx.route.model] : []) : ctx.route.kind === 'batches' ? ctx.route.models : [];
  const body = ctx.route.kind === 'messages' ? asObject(ctx.request.json()) : undefined;
  for (const model of models) {
    const row = book.lookup(model, at);
    if (!row) return `model "${model}"`;
    const speed = body?.speed;
    if (typeof speed === 'string' && speed !== 'standard' && !row.speed.has(speed)) return `speed "${speed}" on model "${model}"`;
    const geo = body?.inference_geo;
    if (typeof geo === 'string' && geo !== 'global' && !row.inferenceGeo.has(geo)) return `inference_geo "${geo}" on model "${model}"`;
  }
  for (const tool of Array.isArray(body?.tools) ? (body.tools as unknown[]) : []) {
    const t = asObject(tool);
    if (typeof t?.type === 'string' && t.type.startsWith('advisor_') && typeof t.model === 'string' && !book.lookup(t.model, at)) {
      return `advisor model "${t.model}"`;
    }
  }
  return undefined;
}

/**
 * The 403 a budgeted key (or end user) gets for an unpriced request (Anthropic's `permission_error`).
 *
 * @example
 * throw refusal('model "claude-x"');
 */
export function refusal(what: string, who: 'this key' | 'this end user' = 'this key'): GatewayError {
  return new GatewayError(
    'TG_ERR_FORBIDDEN',
    `${who} has a budget, and the gateway has no price for ${what}: the request was refused so its spend cannot escape the budget (ask an admin to add a price)`,
  );
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
