import { describe, expect, it } from 'vitest';
import { picoToUsd, type Usage } from '@tollgate/core';
import { anthropicPrices } from './anthropic-prices.js';
import { priceUsage } from './cost.js';
import { createPriceBook } from './price-book.js';

// Every model of Anthropic's current list, priced at one usage with every token line:
// 1,000 input, 500 output, 2,000 cache reads, 300 5-minute and 100 1-hour cache writes.
// Expected dollars were worked out by hand from the published $/MTok rates, e.g. Opus 5.5
// ($4 / $20 / read 0.20 / 5m $5 / 1h $8): 4,000 + 10,000 + 400 + 1,500 + 800 = 16,700 µ$ = $0.0167.
const book = createPriceBook(anthropicPrices);
const NOW = new Date('2026-12-07T12:00:00Z');
const USAGE: Usage = {
  inputTokens: 1000, outputTokens: 500, cacheReadTokens: 2000, cacheWriteTokens: 400, cacheWrite5mTokens: 300, cacheWrite1hTokens: 100,
  webSearchRequests: 0, raw: {},
};

// [model, standard, batch, inference_geo us, speed fast, batch + fast + us]; null: the model has no such option.
const CURRENT: Array<[string, string, string, string | null, string | null, string | null]> = [
  ['claude-haiku-4-5', '0.004275', '0.0021375', null, null, null],
  ['claude-opus-4-5', '0.021375', '0.0106875', null, null, null],
  ['claude-sonnet-4-6', '0.012825', '0.0064125', '0.0141075', null, null],
  ['claude-opus-4-6', '0.021375', '0.0106875', '0.0235125', '0.12825', '0.0705375'],
  ['claude-opus-4-7', '0.021375', '0.0106875', '0.0235125', '0.12825', '0.0705375'],
  ['claude-opus-4-8', '0.021375', '0.0106875', '0.0235125', null, null],
  ['claude-opus-5', '0.021375', '0.0106875', '0.0235125', '0.04275', '0.0235125'],
  ['claude-sonnet-5', '0.00855', '0.004275', '0.009405', null, null],
  ['claude-fable-5', '0.04275', '0.021375', '0.047025', null, null],
  ['claude-mythos-5', '0.04275', '0.021375', '0.047025', null, null],
  ['claude-fable-5-1', '0.04125', '0.020625', '0.045375', null, null],
  ['claude-mythos-5-1', '0.04125', '0.020625', '0.045375', null, null],
  ['claude-opus-5-5', '0.0167', '0.00835', '0.01837', '0.0334', '0.01837'],
  ['claude-sonnet-5-5', '0.00835', '0.004175', '0.009185', null, null],
  ['claude-haiku-5-5', '0.0004275', '0.00021375', '0.00047025', null, null],
  ['claude-fable-5-2', '0.033', '0.0165', '0.0363', '0.066', '0.0363'],
  ['claude-mythos-5-2', '0.033', '0.0165', '0.0363', '0.066', '0.0363'],
];

function usd(model: string, opts: { at?: Date; batch?: boolean; geo?: string; speed?: string } = {}): string | undefined {
  const row = book.lookup(model, opts.at ?? NOW);
  if (!row) return undefined;
  const usage = { ...USAGE, ...(opts.geo ? { inferenceGeo: opts.geo } : {}), ...(opts.speed ? { speed: opts.speed } : {}) };
  return picoToUsd(priceUsage(usage, row, { batch: opts.batch ?? false }).total);
}

describe("Anthropic's current models", () => {
  it.each(CURRENT)('%s prices to the hand-computed value (standard, batch, geo, fast)', (model, standard, batch, us, fast, all) => {
    expect(usd(model)).toBe(standard);
    expect(usd(model, { batch: true })).toBe(batch);
    if (us) expect(usd(model, { geo: 'us' })).toBe(us);
    if (fast) expect(usd(model, { speed: 'fast' })).toBe(fast);
    if (all) expect(usd(model, { batch: true, speed: 'fast', geo: 'us' })).toBe(all);
    expect(() => usd(model, { geo: 'eu' })).toThrow(/no price for inference_geo "eu"/);
  });

  it('leaves no model of the SDK\'s list unpriced, except the preview that reached its end of life', () => {
    // The `Model` union of @anthropic-ai/sdk 1.14.0 (resources/messages/messages.ts).
    const sdkModels = ['claude-fable-5-2', 'claude-mythos-5-2', 'claude-haiku-5-5', 'claude-sonnet-5-5', 'claude-fable-5-1', 'claude-opus-5-5',
      'claude-mythos-5-1', 'claude-sonnet-5', 'claude-fable-5', 'claude-mythos-5', 'claude-opus-5', 'claude-opus-4-8', 'claude-opus-4-7',
      'claude-mythos-preview', 'claude-opus-4-6', 'claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-haiku-4-5-20251001', 'claude-opus-4-5',
      'claude-opus-4-5-20251101', 'claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'];
    const unpriced = sdkModels.filter((m) => book.lookup(m, NOW) === undefined);
    expect(unpriced).toEqual(['claude-mythos-preview']);
    // Listed explicitly as unpriced, so it is known rather than unknown.
    expect(book.models().find((m) => m.id === 'claude-mythos-preview')?.rows).toMatchObject([{ unpriced: true, provisional: false }]);
  });

  it('flags the rows that rest on independent trackers only, each with its source', () => {
    const provisional = book.models().flatMap((m) => m.rows.filter((r) => r.provisional).map((r) => `${m.id}@${r.effectiveFrom ?? '-'}`));
    expect(provisional).toEqual(['claude-fable-5-2@-', 'claude-haiku-5-5@-', 'claude-mythos-5-2@-', 'claude-opus-5-5@-', 'claude-sonnet-5-5@2026-10-07']);
    for (const m of book.models()) for (const r of m.rows) expect(r.source, m.id).toMatch(/\S/);
  });

  it('keeps dated changes: Sonnet 5.5 cache reads before and after 2026-10-07, Opus 4.8 fast mode before 2026-11-30', () => {
    expect(usd('claude-sonnet-5-5', { at: new Date('2026-10-06T23:59:59Z') })).toBe('0.00855');
    expect(usd('claude-sonnet-5-5', { at: new Date('2026-10-07T00:00:00Z') })).toBe('0.00835');
    expect(usd('claude-opus-4-8', { at: new Date('2026-11-29T12:00:00Z'), speed: 'fast' })).toBe('0.04275');
    expect(() => usd('claude-opus-4-8', { speed: 'fast' })).toThrow(/claude-opus-4-8 has no price for speed "fast"/);
  });

  it('bills Haiku 5.5 above 100,000 prompt tokens wholly at its long-context rates', () => {
    const row = book.lookup('claude-haiku-5-5', NOW)!;
    // 100,001 input at $0.50 + 1,000 output at $2.50 = 0.0500005 + 0.0025
    const cost = priceUsage({ ...USAGE, inputTokens: 100_001, outputTokens: 1000, cacheReadTokens: 0, cacheWriteTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0 }, row, { batch: false });
    expect(picoToUsd(cost.total)).toBe('0.0525005');
    expect(cost.tier).toBe('long_context');
  });
});
