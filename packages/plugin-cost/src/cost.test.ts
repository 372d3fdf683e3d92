import { describe, expect, it } from 'vitest';
import type { Usage } from '@tollgate/core';
import { anthropicPrices } from './anthropic-prices.js';
import { priceUsage, UnpricedUsageError } from './cost.js';
import { createPriceBook } from './price-book.js';
import type { PriceRow } from './price-row.js';

// Expected values are written out by hand: $P per MTok = P × 1e12 pico / 1e6 tokens = P × 1e6
// pico per token. E.g. $3.75/MTok = 3_750_000n pico per token.
const book = createPriceBook(anthropicPrices);
const NOW = new Date('2026-11-01T12:00:00Z');

function usage(u: Partial<Usage>): Usage {
  const w5 = u.cacheWrite5mTokens ?? 0;
  const w1 = u.cacheWrite1hTokens ?? 0;
  return {
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: w5 + w1,
    cacheWrite5mTokens: w5,
    cacheWrite1hTokens: w1,
    webSearchRequests: 0,
    raw: {},
    ...u,
  };
}

function row(model: string, at = NOW): PriceRow {
  const r = book.lookup(model, at);
  if (!r) throw new Error(`no price for ${model}`);
  return r;
}

describe('priceUsage', () => {
  it('prices plain input and output (Haiku 4.5: $1 / $5)', () => {
    const cost = priceUsage(usage({ inputTokens: 1234, outputTokens: 567 }), row('claude-haiku-4-5'), { batch: false });
    expect(cost.lines.input).toBe(1234n * 1_000_000n);
    expect(cost.lines.output).toBe(567n * 5_000_000n);
    expect(cost.total).toBe(1_234_000_000n + 2_835_000_000n);
    expect(cost.tier).toBe('standard');
    expect(cost.multiplier).toBe('1');
  });

  it('prices 5m writes, 1h writes and reads separately (Opus 4.5: $6.25 / $10 / $0.50)', () => {
    const u = usage({ inputTokens: 10, outputTokens: 100, cacheWrite5mTokens: 1000, cacheWrite1hTokens: 2000, cacheReadTokens: 30_000 });
    const cost = priceUsage(u, row('claude-opus-4-5'), { batch: false });
    expect(cost.lines).toEqual({
      input: 10n * 5_000_000n,
      output: 100n * 25_000_000n,
      cacheWrite5m: 1000n * 6_250_000n,
      cacheWrite1h: 2000n * 10_000_000n,
      cacheRead: 30_000n * 500_000n,
      webSearch: 0n,
    });
    expect(cost.total).toBe(50_000_000n + 2_500_000_000n + 6_250_000_000n + 20_000_000_000n + 15_000_000_000n);
  });

  it('bills cache writes reported without a split as 5m writes', () => {
    const u = { ...usage({ outputTokens: 1 }), cacheWriteTokens: 400 };
    const cost = priceUsage(u, row('claude-opus-4-5'), { batch: false });
    expect(cost.lines.cacheWrite5m).toBe(400n * 6_250_000n);
    expect(cost.lines.cacheWrite1h).toBe(0n);
  });

  describe('long-context tier (Sonnet 4.5, above 200,000 prompt tokens)', () => {
    const sonnet = row('claude-sonnet-4-5');
    it('keeps standard rates at exactly 200,000 prompt tokens', () => {
      const u = usage({ inputTokens: 150_000, cacheWrite5mTokens: 20_000, cacheWrite1hTokens: 10_000, cacheReadTokens: 20_000, outputTokens: 1000 });
      const cost = priceUsage(u, sonnet, { batch: false });
      expect(cost.tier).toBe('standard');
      expect(cost.total).toBe(
        150_000n * 3_000_000n + 20_000n * 3_750_000n + 10_000n * 6_000_000n + 20_000n * 300_000n + 1000n * 15_000_000n,
      );
    });
    it('bills every line, output included, at $6 / $22.50 / $7.50 / $12 / $0.60 one token above', () => {
      const u = usage({ inputTokens: 150_001, cacheWrite5mTokens: 20_000, cacheWrite1hTokens: 10_000, cacheReadTokens: 20_000, outputTokens: 1000 });
      const cost = priceUsage(u, sonnet, { batch: false });
      expect(cost.tier).toBe('long_context');
      expect(cost.lines).toEqual({
        input: 150_001n * 6_000_000n,
        output: 1000n * 22_500_000n,
        cacheWrite5m: 20_000n * 7_500_000n,
        cacheWrite1h: 10_000n * 12_000_000n,
        cacheRead: 20_000n * 600_000n,
        webSearch: 0n,
      });
    });
    it('halves the long-context rates in batch ($3 / $11.25, cache lines at 50%)', () => {
      const u = usage({ inputTokens: 200_001, cacheReadTokens: 10, outputTokens: 10 });
      const cost = priceUsage(u, sonnet, { batch: true });
      expect(cost.tier).toBe('long_context');
      expect(cost.total).toBe(200_001n * 3_000_000n + 10n * 300_000n + 10n * 11_250_000n);
    });
  });

  describe('Haiku 5.5 prompt-length tier (above 100,000 prompt tokens)', () => {
    const haiku = row('claude-haiku-5-5');
    it('uses $0.10 / $0.50 / $0.01 up to 100,000', () => {
      const cost = priceUsage(usage({ inputTokens: 90_000, cacheReadTokens: 10_000, outputTokens: 2000 }), haiku, { batch: false });
      expect(cost.tier).toBe('standard');
      expect(cost.total).toBe(90_000n * 100_000n + 10_000n * 10_000n + 2000n * 500_000n);
    });
    it('uses $0.50 / $2.50 / $0.05 / $0.625 for the whole request above 100,000', () => {
      const u = usage({ inputTokens: 90_000, cacheReadTokens: 10_000, cacheWrite5mTokens: 1, outputTokens: 2000 });
      const cost = priceUsage(u, haiku, { batch: false });
      expect(cost.tier).toBe('long_context');
      expect(cost.total).toBe(90_000n * 500_000n + 10_000n * 50_000n + 1n * 625_000n + 2000n * 2_500_000n);
    });
  });

  it('prices batch at the batch rates with cache lines at 50% (Sonnet 4.5)', () => {
    const u = usage({ inputTokens: 1000, outputTokens: 1000, cacheWrite5mTokens: 1000, cacheWrite1hTokens: 1000, cacheReadTokens: 1000 });
    const expected = 1000n * (1_500_000n + 7_500_000n + 1_875_000n + 3_000_000n + 150_000n);
    expect(priceUsage(u, row('claude-sonnet-4-5'), { batch: true }).total).toBe(expected);
    // usage.service_tier 'batch' means batch pricing too.
    expect(priceUsage({ ...u, serviceTier: 'batch' }, row('claude-sonnet-4-5'), { batch: false }).total).toBe(expected);
  });

  it("prices service_tier 'priority' at the standard list rates", () => {
    const u = usage({ inputTokens: 1000, outputTokens: 1000, serviceTier: 'priority' });
    expect(priceUsage(u, row('claude-sonnet-4-5'), { batch: false }).total).toBe(1000n * 3_000_000n + 1000n * 15_000_000n);
  });

  it('prices web search at $10 per 1,000 requests, unscaled by geo or batch', () => {
    const u = usage({ inputTokens: 100, webSearchRequests: 3, inferenceGeo: 'us' });
    const cost = priceUsage(u, row('claude-opus-4-7'), { batch: true });
    expect(cost.lines.webSearch).toBe(3n * 10_000_000_000n); // $0.01 each
    expect(cost.lines.input).toBe(100n * 2_750_000n); // batch $2.50 × 1.1
    expect(cost.total).toBe(30_000_000_000n + 275_000_000n);
  });

  it("multiplies every token line by 1.1 for inference_geo 'us' (Opus 4.6)", () => {
    const u = usage({ inputTokens: 1000, outputTokens: 100, cacheWrite1hTokens: 10, cacheReadTokens: 50, inferenceGeo: 'us' });
    const cost = priceUsage(u, row('claude-opus-4-6'), { batch: false });
    expect(cost.multiplier).toBe('1.1');
    expect(cost.lines).toEqual({
      input: 1000n * 5_500_000n,
      output: 100n * 27_500_000n,
      cacheWrite5m: 0n,
      cacheWrite1h: 10n * 11_000_000n,
      cacheRead: 50n * 550_000n,
      webSearch: 0n,
    });
    expect(priceUsage({ ...u, inferenceGeo: 'global' }, row('claude-opus-4-6'), { batch: false }).lines.input).toBe(1000n * 5_000_000n);
  });

  it("multiplies by the row's fast-mode factor, stacked with geo (Opus 4.6: 6, Opus 4.8: 2)", () => {
    const u = usage({ inputTokens: 1000, outputTokens: 100, cacheReadTokens: 10, speed: 'fast' });
    const opus46 = priceUsage(u, row('claude-opus-4-6'), { batch: false });
    expect(opus46.multiplier).toBe('6');
    expect(opus46.total).toBe(1000n * 30_000_000n + 100n * 150_000_000n + 10n * 3_000_000n);
    const both = priceUsage({ ...u, inferenceGeo: 'us' }, row('claude-opus-4-6'), { batch: false });
    expect(both.multiplier).toBe('6.6');
    expect(both.total).toBe(1000n * 33_000_000n + 100n * 165_000_000n + 10n * 3_300_000n);
    expect(priceUsage(u, row('claude-opus-4-8'), { batch: false }).total).toBe(1000n * 10_000_000n + 100n * 50_000_000n + 10n * 1_000_000n);
    expect(priceUsage({ ...u, speed: 'standard' }, row('claude-opus-4-8'), { batch: false }).multiplier).toBe('1');
  });

  it('refuses to guess a geo, speed or web-search price the row does not list', () => {
    const sonnet = row('claude-sonnet-4-5');
    expect(() => priceUsage(usage({ inferenceGeo: 'us' }), sonnet, { batch: false })).toThrow(UnpricedUsageError);
    expect(() => priceUsage(usage({ speed: 'fast' }), sonnet, { batch: false })).toThrow(/claude-sonnet-4-5-20250929 has no price for speed "fast"/);
    expect(() => priceUsage(usage({ inferenceGeo: 'eu' }), row('claude-opus-4-6'), { batch: false })).toThrow(/inference_geo "eu"/);
    const noSearchPrice = createPriceBook({ models: { m: { prices: [{ input: 1, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1, batch_input: 1, batch_output: 1 }] } } });
    const err = (() => {
      try {
        priceUsage(usage({ webSearchRequests: 1 }), noSearchPrice.lookup('m', NOW)!, { batch: false });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UnpricedUsageError);
    expect((err as UnpricedUsageError).reason).toBe('web_search');
  });

  it('rejects token counts that are not non-negative integers', () => {
    expect(() => priceUsage(usage({ inputTokens: -1 }), row('claude-haiku-4-5'), { batch: false })).toThrow(RangeError);
    expect(() => priceUsage(usage({ outputTokens: 1.5 }), row('claude-haiku-4-5'), { batch: false })).toThrow(/outputTokens/);
  });

  it('follows dated rows: Sonnet 4.6 long-context tier before 2026-03-13, flat from then', () => {
    const u = usage({ inputTokens: 250_000, outputTokens: 1000 });
    const before = priceUsage(u, row('claude-sonnet-4-6', new Date('2026-03-12T23:59:59.999Z')), { batch: false });
    expect(before.tier).toBe('long_context');
    expect(before.total).toBe(250_000n * 6_000_000n + 1000n * 22_500_000n);
    const after = priceUsage(u, row('claude-sonnet-4-6', new Date('2026-03-13T00:00:00Z')), { batch: false });
    expect(after.tier).toBe('standard');
    expect(after.total).toBe(250_000n * 3_000_000n + 1000n * 15_000_000n);
  });

  it('follows dated rows: Sonnet 5.5 cache reads at $0.20 before 2026-10-07, $0.10 (provisional) from then', () => {
    const u = usage({ cacheReadTokens: 1_000_000 });
    expect(priceUsage(u, row('claude-sonnet-5-5', new Date('2026-10-06T23:59:59Z')), { batch: false }).total).toBe(1_000_000n * 200_000n);
    expect(book.lookup('claude-sonnet-5-5', new Date('2026-10-07T00:00:00Z'))?.provisional).toBe(true);
    // An operator's own dated rows replace the shipped ones.
    const confirmed = createPriceBook(anthropicPrices, {
      models: {
        'claude-sonnet-5-5': {
          prices: [
            { input: 2, output: 10, cache_write_5m: 2.5, cache_write_1h: 4, cache_read: 0.2, batch_input: 1, batch_output: 5 },
            { effective_from: '2026-10-07', input: 2, output: 10, cache_write_5m: 2.5, cache_write_1h: 4, cache_read: 0.1, batch_input: 1, batch_output: 5 },
          ],
        },
      },
    });
    expect(priceUsage(u, confirmed.lookup('claude-sonnet-5-5', new Date('2026-10-07T00:00:00Z'))!, { batch: false }).total).toBe(1_000_000n * 100_000n);
    expect(priceUsage(u, confirmed.lookup('claude-sonnet-5-5', new Date('2026-10-06T12:00:00Z'))!, { batch: false }).total).toBe(1_000_000n * 200_000n);
  });

  it('sums 1,000,000 requests priced one by one to exactly the price of their summed tokens', () => {
    const r = row('claude-opus-4-7');
    const one = usage({ inputTokens: 37, outputTokens: 211, cacheWrite5mTokens: 13, cacheWrite1hTokens: 7, cacheReadTokens: 101, webSearchRequests: 1, inferenceGeo: 'us' });
    let sum = 0n;
    for (let i = 0; i < 1_000_000; i++) sum += priceUsage(one, r, { batch: false }).total;
    const all = usage({
      inputTokens: 37_000_000,
      outputTokens: 211_000_000,
      cacheWrite5mTokens: 13_000_000,
      cacheWrite1hTokens: 7_000_000,
      cacheReadTokens: 101_000_000,
      webSearchRequests: 1_000_000,
      inferenceGeo: 'us',
    });
    expect(sum).toBe(priceUsage(all, r, { batch: false }).total);
    // And that total, by hand: $5.50 / $27.50 / $6.875 / $11 / $0.55 per MTok, $10 per 1,000 searches.
    const perRequest = 37n * 5_500_000n + 211n * 27_500_000n + 13n * 6_875_000n + 7n * 11_000_000n + 101n * 550_000n + 10_000_000_000n;
    expect(sum).toBe(1_000_000n * perRequest);
  });
});
