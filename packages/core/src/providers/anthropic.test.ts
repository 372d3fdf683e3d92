import { describe, expect, it } from 'vitest';
import { createAnthropicAdapter, normalizeUsage } from './anthropic.js';

const adapter = createAnthropicAdapter({ baseUrl: 'https://up.example/base/', apiKey: 'sk-up', timeoutMs: 1, idleTimeoutMs: 1, connections: 1 });

describe('anthropic adapter', () => {
  it('splits the base URL into origin and path prefix', () => {
    expect(adapter.origin).toBe('https://up.example');
    expect(adapter.basePath).toBe('/base');
  });

  it.each([
    ['POST', '/v1/messages', 'messages'],
    ['POST', '/v1/messages/count_tokens', 'count_tokens'],
    ['POST', '/v1/messages/batches', 'batches'],
    ['GET', '/v1/messages/batches/msgbatch_1/results', 'batches'],
    ['GET', '/v1/models', 'models'],
    ['GET', '/v1/models/claude-opus-4-1', 'models'],
    ['POST', '/v1/files', 'other'],
    ['GET', '/v1/messagesx', 'other'],
  ])('classifies %s %s as %s', (method, path, kind) => {
    expect(adapter.classify(method, path)).toBe(kind);
  });

  it("gives the gateway's own requests the upstream key and an API version, and nothing else", () => {
    expect(adapter.ownRequestHeaders()).toEqual({ 'x-api-key': 'sk-up', 'anthropic-version': '2023-06-01' });
    const keyless = createAnthropicAdapter({ baseUrl: 'https://up.example', timeoutMs: 1, idleTimeoutMs: 1, connections: 1 });
    expect(keyless.ownRequestHeaders()).toEqual({ 'anthropic-version': '2023-06-01' });
  });

  it('rewrites results_url on a batch and on every batch of a list', () => {
    const one = adapter.rewriteResponse({ id: 'b1', results_url: 'https://up.example/base/v1/messages/batches/b1/results' }, 'http://gw:4000');
    expect(one).toEqual({ id: 'b1', results_url: 'http://gw:4000/anthropic/v1/messages/batches/b1/results' });
    const list = adapter.rewriteResponse({ data: [{ results_url: null }, { results_url: 'https://other.example/v1/messages/batches/b2/results?x=1' }] }, 'http://gw');
    expect(list).toEqual({ data: [{ results_url: null }, { results_url: 'http://gw/anthropic/v1/messages/batches/b2/results?x=1' }] });
  });
});

describe('normalizeUsage', () => {
  it('keeps the 5m/1h split and server tools', () => {
    const raw = {
      input_tokens: 100,
      output_tokens: 50,
      cache_read_input_tokens: 30,
      cache_creation_input_tokens: 70,
      cache_creation: { ephemeral_5m_input_tokens: 20, ephemeral_1h_input_tokens: 50 },
      server_tool_use: { web_search_requests: 3 },
      service_tier: 'batch',
      inference_geo: 'us',
      speed: 'fast',
    };
    expect(normalizeUsage(raw)).toEqual({
      inputTokens: 100,
      outputTokens: 50,
      cacheReadTokens: 30,
      cacheWriteTokens: 70,
      cacheWrite5mTokens: 20,
      cacheWrite1hTokens: 50,
      webSearchRequests: 3,
      serviceTier: 'batch',
      inferenceGeo: 'us',
      speed: 'fast',
      raw,
    });
  });

  it('counts unsplit cache writes as 5m', () => {
    const u = normalizeUsage({ input_tokens: 1, output_tokens: 2, cache_creation_input_tokens: 40 });
    expect([u.cacheWriteTokens, u.cacheWrite5mTokens, u.cacheWrite1hTokens]).toEqual([40, 40, 0]);
  });
});

describe('stream usage tap', () => {
  it('takes the input side from message_start and lets message_delta override', () => {
    const tap = adapter.createStreamTap();
    expect(tap.response()).toBeUndefined();
    tap.onEvent({ event: 'message_start', data: JSON.stringify({ type: 'message_start', message: { id: 'msg_s', model: 'claude-x', usage: { input_tokens: 12, output_tokens: 1, cache_read_input_tokens: 5 } } }) });
    expect(tap.response()).toEqual({ id: 'msg_s', model: 'claude-x' });
    tap.onEvent({ event: 'content_block_delta', data: '{"type":"content_block_delta"}' });
    tap.onEvent({ event: 'message_delta', data: JSON.stringify({ type: 'message_delta', usage: { output_tokens: 40 } }) });
    tap.onEvent({ event: 'message_delta', data: JSON.stringify({ type: 'message_delta', usage: { output_tokens: 90, input_tokens: 13 } }) });
    const u = tap.usage()!;
    expect([u.inputTokens, u.outputTokens, u.cacheReadTokens]).toEqual([13, 90, 5]);
    expect(tap.error()).toBeUndefined();
  });

  it('records an error event', () => {
    const tap = adapter.createStreamTap();
    tap.onEvent({ event: 'error', data: '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' });
    expect(tap.error()).toEqual({ type: 'overloaded_error', message: 'Overloaded' });
    expect(tap.usage()).toBeUndefined();
  });
});

describe('summarizeJson', () => {
  it('reads usage, id and model of a Message, and nothing from anything else', () => {
    const usage = { input_tokens: 58, output_tokens: 120, cache_read_input_tokens: 7 };
    const s = adapter.summarizeJson({ id: 'msg_01X', type: 'message', model: 'claude-x', content: [], usage });
    expect([s.usage?.inputTokens, s.usage?.outputTokens, s.usage?.cacheReadTokens, s.response]).toEqual([58, 120, 7, { id: 'msg_01X', model: 'claude-x' }]);
    for (const other of [null, 'text', [1], { id: 5, usage: 'x' }]) expect(adapter.summarizeJson(other)).toEqual({ usage: undefined, response: { id: undefined, model: undefined } });
  });
});
