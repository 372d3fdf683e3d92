import { describe, expect, it } from 'vitest';
import { GatewayError } from '@tollgate/core';
import { anthropicPrices } from './anthropic-prices.js';
import { createPriceBook } from './price-book.js';

const NOW = new Date('2026-11-01T00:00:00Z');
const book = createPriceBook(anthropicPrices);

const rates = { input: 1, output: 5, cache_write_5m: 1.25, cache_write_1h: 2, cache_read: 0.1, batch_input: 0.5, batch_output: 2.5 };

/** The message of the TG_ERR_CONFIG error building a book from `data` throws. */
function loadError(data: unknown, overrides?: Parameters<typeof createPriceBook>[1]): string {
  try {
    createPriceBook(data, overrides);
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe('TG_ERR_CONFIG');
    return (e as Error).message;
  }
  throw new Error('expected the price data to be rejected');
}

describe('the shipped price data', () => {
  it('loads, with a source on every priced row', () => {
    const listed = book.models();
    expect(listed.length).toBe(28);
    for (const m of listed) for (const r of m.rows) expect(r.source, `${m.id} ${r.effectiveFrom ?? ''}`).toMatch(/\S/);
  });

  it('ships the rows only trackers confirm, flagged provisional', () => {
    expect(book.lookup('claude-fable-5-2', NOW)?.provisional).toBe(true);
    expect(book.lookup('claude-mythos-5-2', NOW)?.provisional).toBe(true);
    expect(book.lookup('claude-opus-4-7', NOW)?.provisional).toBe(false);
  });

  it('lists rates per MTok as exact decimal strings for printing', () => {
    const sonnet46 = book.models().find((m) => m.id === 'claude-sonnet-4-6')!;
    expect(sonnet46.rows.map((r) => r.effectiveFrom)).toEqual([undefined, '2026-03-13']);
    expect(sonnet46.rows[0].longContext).toEqual({
      thresholdPromptTokens: 200_000,
      standard: { input: '6', output: '22.5', cacheWrite5m: '7.5', cacheWrite1h: '12', cacheRead: '0.6' },
      batch: { input: '3', output: '11.25', cacheWrite5m: '3.75', cacheWrite1h: '6', cacheRead: '0.3' },
    });
    expect(sonnet46.rows[1].standard).toEqual({ input: '3', output: '15', cacheWrite5m: '3.75', cacheWrite1h: '6', cacheRead: '0.3' });
    expect(sonnet46.rows[1].inferenceGeo).toEqual({ us: '1.1' });
    const sonnet55 = book.models().find((m) => m.id === 'claude-sonnet-5-5')!;
    expect(sonnet55.rows[1]).toMatchObject({ effectiveFrom: '2026-10-07', unpriced: false, provisional: true, standard: { cacheRead: '0.1' } });
  });
});

describe('lookup', () => {
  it('resolves exact ids, aliases and dated ids to one canonical row set', () => {
    expect(book.lookup('claude-3-5-haiku-20241022', NOW)?.model).toBe('claude-3-5-haiku-20241022');
    expect(book.lookup('claude-3-5-haiku-latest', NOW)?.model).toBe('claude-3-5-haiku-20241022');
    expect(book.lookup('claude-4-sonnet-20250514', NOW)?.base.standard.input).toBe(3_000_000n);
    expect(book.lookup('claude-opus-4-7-20260416', NOW)?.model).toBe('claude-opus-4-7');
    // A dated id the book does not list resolves to its undated base.
    expect(book.lookup('claude-haiku-5-5-20261007', NOW)?.model).toBe('claude-haiku-5-5');
    expect(book.canonical('claude-sonnet-4-5-20991231')).toBe('claude-sonnet-4-5-20250929');
  });

  it('does no fuzzy matching and prices no unknown model', () => {
    for (const id of ['claude-sonnet-4', 'claude-sonnet-4-5-x', 'claude-sonnet', 'CLAUDE-HAIKU-4-5', 'gpt-4o', 'claude-sonnet-4-20250514-20260101', 'constructor', '__proto__', '']) {
      expect(book.lookup(id, NOW), id).toBeUndefined();
    }
  });

  it('returns nothing before a model’s first dated row', () => {
    const b = createPriceBook({ models: { m: { prices: [{ effective_from: '2026-05-01', ...rates }] } } });
    expect(b.lookup('m', new Date('2026-04-30T23:59:59Z'))).toBeUndefined();
    expect(b.lookup('m', new Date('2026-05-01T00:00:00Z'))?.effectiveFrom).toBe('2026-05-01');
  });

  it('rejects an invalid date', () => {
    expect(() => book.lookup('claude-haiku-4-5', new Date('nope'))).toThrow(TypeError);
  });
});

describe('overrides', () => {
  it('replaces a model’s rows (negotiated rates) and keeps its aliases', () => {
    const b = createPriceBook(anthropicPrices, { models: { 'claude-haiku-4-5-20251001': { prices: [{ ...rates, input: 0.8 }] } } });
    expect(b.lookup('claude-haiku-4-5', NOW)?.base.standard.input).toBe(800_000n);
    expect(b.lookup('claude-haiku-4-5-20251001', NOW)?.base.standard.input).toBe(800_000n);
  });

  it('merges extra files in order, then the model overrides', () => {
    const b = createPriceBook(anthropicPrices, {
      extraFiles: [
        { label: 'a.yaml', data: { models: { 'my-model': { aliases: ['mine'], prices: [{ ...rates, input: 7 }] } } } },
        { label: 'b.yaml', data: { models: { 'my-model': { prices: [{ ...rates, input: 8 }] } }, server_tools: { web_search: { per_1000_requests: '12.5' } } } },
      ],
      models: { 'other-model': { prices: [rates] } },
    });
    expect(b.lookup('mine', NOW)?.base.standard.input).toBe(8_000_000n);
    expect(b.lookup('my-model', NOW)?.webSearchPerRequest).toBe(12_500_000_000n);
    expect(b.lookup('other-model', NOW)?.model).toBe('other-model');
    expect(b.lookup('claude-haiku-4-5', NOW)?.base.standard.input).toBe(1_000_000n);
  });

  it('refuses an override that names an alias instead of the canonical id', () => {
    expect(loadError(anthropicPrices, { models: { 'claude-sonnet-4-5': { prices: [rates] } } })).toContain(
      'overrides: /models/claude-sonnet-4-5: "claude-sonnet-4-5" is an alias of "claude-sonnet-4-5-20250929"; use the canonical id',
    );
  });
});

describe('validation at load', () => {
  it('rejects a price that is not a whole number of pico-dollars per token', () => {
    expect(loadError({ models: { m: { prices: [{ ...rates, input: '0.0000005' }] } } })).toContain(
      'price data: /models/m/prices/0/input: $0.0000005/MTok is not a whole number of pico-dollars per token',
    );
  });

  it('rejects a rate whose batch half, or whose product with a multiplier, is not whole', () => {
    expect(loadError({ models: { m: { prices: [{ ...rates, cache_read: '0.000001' }] } } })).toContain(
      '/models/m/prices/0/cache_read: the batch rate (50% of $0.000001/MTok) is not a whole number of pico-dollars per token',
    );
    const geo = { ...rates, input: '0.000002', multipliers: { inference_geo: { us: '1.1' } } };
    expect(loadError({ models: { m: { prices: [geo] } } })).toContain('input × 1.1 (inference_geo us) is not a whole number of pico-dollars per token');
  });

  it('reports unknown fields, missing rates and bad values, all at once', () => {
    const message = loadError({ models: { m: { prices: [{ ...rates, cache_raed: 0.1 }] } } });
    expect(message).toContain('price data: /models/m/prices/0: unknown field "cache_raed"');
    const semantic = loadError({
      models: {
        a: { prices: [{ input: 1, output: 5 }] },
        b: { prices: [{ ...rates, output: '-5' }] },
        c: { prices: [{ ...rates, multipliers: { speed: { fast: 'six' } } }] },
      },
    });
    expect(semantic).toContain('/models/a/prices/0: missing "cache_write_5m"');
    expect(semantic).toContain('/models/a/prices/0: missing "batch_output"');
    expect(semantic).toContain('/models/b/prices/0/output: "-5" is negative');
    expect(semantic).toContain('/models/c/prices/0/multipliers/speed/fast: not a decimal multiplier: "six"');
  });

  it('rejects dates that are invalid, out of order or missing after the first row', () => {
    const message = loadError({
      models: {
        a: { prices: [{ effective_from: '2026-02-30', ...rates }] },
        b: { prices: [{ effective_from: '2026-05-01', ...rates }, { effective_from: '2026-04-01', ...rates }] },
        c: { prices: [rates, rates] },
      },
    });
    expect(message).toContain('/models/a/prices/0/effective_from: "2026-02-30" is not a date');
    expect(message).toContain('/models/b/prices/1/effective_from: rows must be in increasing date order');
    expect(message).toContain('/models/c/prices/1: only the first row may omit effective_from');
  });

  it('rejects ambiguous aliases and unpriced rows that carry prices', () => {
    const message = loadError({
      models: {
        a: { aliases: ['x'], prices: [rates] },
        b: { aliases: ['x', 'a'], prices: [rates] },
        c: { prices: [rates, { effective_from: '2026-01-01', unpriced: true, input: 1 }] },
      },
    });
    expect(message).toContain('/models/b/aliases: "x" is already an alias of "a"');
    expect(message).toContain('/models/b/aliases: "a" is a model id, not an alias');
    expect(message).toContain('/models/c/prices/1: an unpriced row carries no prices (found input)');
  });

  it('rejects a web-search price that is not whole pico per request', () => {
    expect(loadError({ server_tools: { web_search: { per_1000_requests: '0.000000000001' } } })).toContain(
      'price data: /server_tools/web_search/per_1000_requests: $0.000000000001 per 1,000 is not a whole, non-negative number of pico-dollars per request',
    );
  });
});
