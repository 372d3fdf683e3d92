import { describe, expect, it } from 'vitest';
import { normalizeUsage } from './providers/anthropic.js';
import { readableUsage } from './usage.js';

describe('readableUsage', () => {
  it('keeps usage whose counts are whole numbers, absent counts as 0', () => {
    const u = readableUsage(normalizeUsage({ input_tokens: 10, output_tokens: 0, cache_read_input_tokens: null, cache_creation: { ephemeral_5m_input_tokens: 3 } }));
    expect(u).toMatchObject({ inputTokens: 10, outputTokens: 0, cacheReadTokens: 0, cacheWrite5mTokens: 3, cacheWrite1hTokens: 0, webSearchRequests: 0 });
  });

  it.each([
    ['a fraction', { input_tokens: 1.5, output_tokens: 2 }],
    ['a negative count', { input_tokens: -5, output_tokens: 2 }],
    ['a count past 2^53', { input_tokens: 1e20, output_tokens: 2 }],
    ['a string', { input_tokens: '10', output_tokens: 2 }],
    ['a bad cache split', { input_tokens: 10, output_tokens: 2, cache_creation: { ephemeral_1h_input_tokens: 'x' } }],
    ['negative web searches', { input_tokens: 10, output_tokens: 2, server_tool_use: { web_search_requests: -1 } }],
  ])('refuses usage with %s', (_name, raw) => {
    expect(readableUsage(normalizeUsage(raw))).toBeUndefined();
  });
});
