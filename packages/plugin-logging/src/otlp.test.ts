import { describe, expect, it } from 'vitest';
import type { CompletionRecord } from '@tollgate/core';
import { toLogEntry } from './log-entry.js';
import { otlpTraceRequest, toSpan, type KeyValue } from './otlp.js';

const usage = {
  inputTokens: 100,
  outputTokens: 200,
  cacheReadTokens: 3000,
  cacheWriteTokens: 1000,
  cacheWrite5mTokens: 400,
  cacheWrite1hTokens: 600,
  webSearchRequests: 2,
  serviceTier: 'standard',
  raw: {},
};

function record(over: Partial<CompletionRecord> = {}): CompletionRecord {
  return {
    id: 'req-1',
    method: 'POST',
    path: '/anthropic/v1/messages',
    provider: 'anthropic',
    routeKind: 'messages',
    model: 'claude-haiku-4-5',
    stream: true,
    status: 200,
    principal: { kind: 'virtual', keyHash: 'h4sh', keyAlias: 'billing', userId: 'ann', teamId: 'search' },
    endUser: 'end-7',
    tags: ['a', 'b'],
    usage,
    upstreamRequestId: 'req_up_1',
    response: { id: 'msg_cost', model: 'claude-haiku-4-5-20251001' },
    timings: { start: 1_700_000_000_123, end: 1_700_000_000_125, durationMs: 1.5, upstreamMs: 1, ttfbMs: 0.5, firstTokenMs: 0.75, overheadMs: 0.5 },
    aborted: false,
    state: { cost: { priced: { spend: 3_100_000_000n, unpriced: false } } } as CompletionRecord['state'],
    ...over,
  };
}

/** OTLP attributes as a plain object: { key: value } with the typed wrapper unwrapped. */
function attrs(list: KeyValue[]): Record<string, unknown> {
  const unwrap = (v: any): unknown => ('arrayValue' in v ? v.arrayValue.values.map(unwrap) : Object.values(v)[0]);
  return Object.fromEntries(list.map((kv) => [kv.key, unwrap(kv.value)]));
}

describe('OTLP encoding', () => {
  it('a messages request becomes a CLIENT span with the GenAI conventions and tollgate attributes', () => {
    const span = toSpan(record());
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(span).toMatchObject({
      name: 'chat claude-haiku-4-5',
      kind: 3,
      startTimeUnixNano: '1700000000123000000',
      endTimeUnixNano: '1700000000124500000',
      status: { code: 0 },
    });
    expect(attrs(span.attributes)).toEqual({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.system': 'anthropic',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'claude-haiku-4-5',
      'gen_ai.response.model': 'claude-haiku-4-5-20251001',
      'gen_ai.response.id': 'msg_cost',
      'gen_ai.usage.input_tokens': '4100',
      'gen_ai.usage.output_tokens': '200',
      'gen_ai.usage.cache_read.input_tokens': '3000',
      'gen_ai.usage.cache_creation.input_tokens': '1000',
      'tollgate.usage.uncached_input_tokens': '100',
      'tollgate.usage.cache_write_5m_tokens': '400',
      'tollgate.usage.cache_write_1h_tokens': '600',
      'tollgate.usage.web_search_requests': '2',
      'tollgate.usage.service_tier': 'standard',
      'tollgate.cost.usd': 0.0031,
      'tollgate.cost.pico_usd': '3100000000',
      'user.id': 'end-7',
      'enduser.id': 'end-7',
      'tollgate.tags': ['a', 'b'],
      'tollgate.key.kind': 'virtual',
      'tollgate.key.alias': 'billing',
      'tollgate.key.hash': 'h4sh',
      'tollgate.key.user_id': 'ann',
      'tollgate.key.team_id': 'search',
      'tollgate.request.id': 'req-1',
      'tollgate.route': 'messages',
      'tollgate.stream': true,
      'http.request.method': 'POST',
      'url.path': '/anthropic/v1/messages',
      'http.response.status_code': '200',
      'tollgate.upstream.request_id': 'req_up_1',
      'tollgate.upstream_ms': 1,
      'tollgate.ttfb_ms': 0.5,
      'tollgate.first_token_ms': 0.75,
      'tollgate.overhead_ms': 0.5,
    });
  });

  it('errors set the span status and error.type; absent facts leave no attribute', () => {
    const relayed = toSpan(record({ status: 429, usage: undefined, response: undefined, state: {}, endUser: undefined, tags: [], principal: undefined, stream: false }));
    expect(relayed.status).toEqual({ code: 2, message: 'HTTP 429' });
    const a = attrs(relayed.attributes);
    expect(a['error.type']).toBe('429');
    for (const key of ['gen_ai.usage.input_tokens', 'tollgate.cost.usd', 'user.id', 'tollgate.tags', 'tollgate.key.alias', 'gen_ai.response.id']) expect(a).not.toHaveProperty(key);
    const own = toSpan(record({ status: 401, error: { code: 'TG_ERR_AUTH_INVALID_KEY', type: 'authentication_error', message: 'invalid api key' } }));
    expect(own.status).toEqual({ code: 2, message: 'invalid api key' });
    expect(attrs(own.attributes)).toMatchObject({ 'error.type': 'authentication_error', 'tollgate.error.code': 'TG_ERR_AUTH_INVALID_KEY' });
    const unpriced = toSpan(record({ state: { cost: { priced: { spend: 0n, unpriced: true } } } as CompletionRecord['state'] }));
    expect(attrs(unpriced.attributes)).toMatchObject({ 'tollgate.cost.unpriced': true });
    expect(attrs(unpriced.attributes)).not.toHaveProperty('tollgate.cost.usd');
  });

  it('other routes are named by method and route kind, without a GenAI operation', () => {
    const span = toSpan(record({ method: 'GET', path: '/anthropic/v1/models', routeKind: 'models', model: undefined, usage: undefined }));
    expect(span.name).toBe('GET models');
    expect(attrs(span.attributes)).not.toHaveProperty('gen_ai.operation.name');
  });

  it('one resource with service.name and the extra attributes, one scope, one span per record', () => {
    const body = otlpTraceRequest([record(), record({ id: 'req-2' })], { serviceName: 'gw', attributes: { 'deployment.environment': 'test' } });
    expect(body.resourceSpans).toHaveLength(1);
    expect(attrs(body.resourceSpans[0].resource.attributes)).toEqual({ 'service.name': 'gw', 'deployment.environment': 'test' });
    expect(body.resourceSpans[0].scopeSpans[0].scope).toEqual({ name: '@tollgate/plugin-logging' });
    const spans = body.resourceSpans[0].scopeSpans[0].spans;
    expect(spans.map((s) => attrs(s.attributes)['tollgate.request.id'])).toEqual(['req-1', 'req-2']);
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(2);
  });
});

describe('log entries', () => {
  it('carry the exact cost as a decimal string and no bigint', () => {
    const entry = toLogEntry(record());
    expect(entry).toMatchObject({ id: 'req-1', time: '2023-11-14T22:13:20.123Z', costUsd: '0.0031', responseId: 'msg_cost', responseModel: 'claude-haiku-4-5-20251001', route: 'messages' });
    expect(JSON.parse(JSON.stringify(entry)).usage).toEqual({
      inputTokens: 100,
      outputTokens: 200,
      cacheReadTokens: 3000,
      cacheWriteTokens: 1000,
      cacheWrite5mTokens: 400,
      cacheWrite1hTokens: 600,
      webSearchRequests: 2,
      serviceTier: 'standard',
    });
  });
});
