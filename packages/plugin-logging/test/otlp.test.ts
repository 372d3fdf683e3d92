import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { errorReply, messageJson, messageStreamEvents } from '@tollgate/testing';
import { postMessage, startHarness, type Harness } from './harness.js';
import { startReceiver, until, type DecodedSpan, type Receiver } from './receiver.js';

const PICO = 1_000_000n; // pico-dollars per token at $1 per million tokens
const HAIKU = 'claude-haiku-4-5';
const HAIKU_DATED = 'claude-haiku-4-5-20251001';

describe('OTLP sink: one span per request to a collector stand-in', () => {
  let collector: Receiver;
  let h: Harness;
  let key: string;
  let keyHash: string;
  let spans: DecodedSpan[];
  const byRequest = new Map<string, DecodedSpan>();

  beforeAll(async () => {
    collector = await startReceiver();
    h = await startHarness({
      accounting: true,
      logging: {
        otlp: [
          {
            endpoint: `${collector.url}/`,
            headers: { authorization: 'Basic bGY6c2VjcmV0' },
            serviceName: 'tollgate-test',
            resourceAttributes: { 'deployment.environment': 'test' },
            flushIntervalMs: 20,
          },
        ],
      },
    });
    ({ key, token: keyHash } = (await h.admin('POST', '/key/generate', { key_alias: 'billing', user_id: 'ann', team_id: 'search' })).body);
    const sdk = new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
    const params = { model: HAIKU, max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hi' }] };

    // 1. non-streaming, end user and tags from litellm_metadata
    h.mock.once('POST', '/v1/messages', {
      headers: { 'request-id': 'req_up_plain' },
      json: messageJson({ id: 'msg_plain', model: HAIKU_DATED, usage: { input_tokens: 1000, output_tokens: 500 } }),
    });
    await sdk.messages.create({ ...params, litellm_metadata: { user: 'end-1', tags: ['team:search', 'exp:7'] } } as never);
    // 2. streaming with cache reads and 5m/1h writes, end user from metadata.user_id
    h.mock.once('POST', '/v1/messages', {
      sse: messageStreamEvents({
        id: 'msg_stream',
        model: HAIKU_DATED,
        text: ['Hello', ' there'],
        usage: { input_tokens: 100, output_tokens: 200, cache_read_input_tokens: 3000, cache_creation_input_tokens: 1000, cache_creation: { ephemeral_5m_input_tokens: 400, ephemeral_1h_input_tokens: 600 } },
      }),
    });
    const stream = await sdk.messages.create({ ...params, stream: true, metadata: { user_id: 'end-2' } });
    for await (const _ of stream) void _;
    // 3. an upstream error, relayed
    h.mock.once('POST', '/v1/messages', errorReply('rate_limit_error', 'slow down'));
    expect((await postMessage(h.baseURL, params, key)).status).toBe(429);
    // 4. a gateway error: unknown key
    expect((await postMessage(h.baseURL, params, 'sk-tg-not-a-key')).status).toBe(401);
    // 5. count_tokens (not a chat)
    await sdk.messages.countTokens(params);

    await until(() => collector.spans().length >= 5);
    spans = collector.spans();
    for (const s of spans) byRequest.set(s.attributes['tollgate.request.id'] as string, s);
  });
  afterAll(async () => {
    await h?.close();
    await collector?.close();
  });

  const spanOf = (i: number) => byRequest.get(h.completed[i].id)!;

  it('POSTs OTLP/JSON to <endpoint>/v1/traces with the configured headers and resource', () => {
    expect(spans).toHaveLength(5);
    expect(byRequest.size).toBe(5);
    for (const post of collector.posts) {
      expect(post.path).toBe('/v1/traces');
      expect(post.headers['content-type']).toBe('application/json');
      expect(post.headers.authorization).toBe('Basic bGY6c2VjcmV0');
    }
    for (const s of spans) {
      expect(s.resource).toEqual({ 'service.name': 'tollgate-test', 'deployment.environment': 'test' });
      expect(s.scope).toBe('@tollgate/plugin-logging');
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(5);
  });

  it('span times are the request timings in unix nanoseconds', () => {
    for (const [i, r] of h.completed.entries()) {
      const s = spanOf(i);
      expect(BigInt(s.startTimeUnixNano)).toBe(BigInt(r.timings.start) * 1_000_000n);
      expect(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)).toBe(BigInt(Math.round(r.timings.durationMs * 1e6)));
    }
  });

  it('non-streaming message: GenAI attributes, exact tokens and exact cost, key, end user and tags', () => {
    const s = spanOf(0);
    expect(s).toMatchObject({ name: `chat ${HAIKU}`, kind: 3, status: { code: 0 } });
    const cost = 1000n * 1n * PICO + 500n * 5n * PICO;
    expect(s.attributes).toEqual({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.system': 'anthropic',
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': HAIKU,
      'gen_ai.response.id': 'msg_plain',
      'gen_ai.response.model': 'claude-haiku-4-5-20251001',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'gen_ai.usage.cache_read.input_tokens': 0,
      'gen_ai.usage.cache_creation.input_tokens': 0,
      'tollgate.usage.uncached_input_tokens': 1000,
      'tollgate.usage.cache_write_5m_tokens': 0,
      'tollgate.usage.cache_write_1h_tokens': 0,
      'tollgate.usage.web_search_requests': 0,
      'tollgate.usage.service_tier': 'standard',
      'tollgate.cost.usd': 0.0035,
      'tollgate.cost.pico_usd': Number(cost),
      'user.id': 'end-1',
      'enduser.id': 'end-1',
      'tollgate.tags': ['team:search', 'exp:7'],
      'tollgate.key.kind': 'virtual',
      'tollgate.key.alias': 'billing',
      'tollgate.key.hash': keyHash,
      'tollgate.key.user_id': 'ann',
      'tollgate.key.team_id': 'search',
      'tollgate.request.id': h.completed[0].id,
      'tollgate.route': 'messages',
      'tollgate.stream': false,
      'http.request.method': 'POST',
      'url.path': '/anthropic/v1/messages',
      'http.response.status_code': 200,
      'tollgate.upstream.request_id': 'req_up_plain',
      'tollgate.upstream_ms': h.completed[0].timings.upstreamMs,
      'tollgate.ttfb_ms': h.completed[0].timings.ttfbMs,
      'tollgate.overhead_ms': h.completed[0].timings.overheadMs,
    });
  });

  it('stream: the answering model and id from message_start, cache tokens counted into input_tokens', () => {
    const s = spanOf(1);
    expect(s.name).toBe(`chat ${HAIKU}`);
    expect(s.attributes).toMatchObject({
      'gen_ai.request.model': HAIKU,
      'gen_ai.response.model': HAIKU_DATED,
      'gen_ai.response.id': 'msg_stream',
      'gen_ai.usage.input_tokens': 100 + 3000 + 1000,
      'gen_ai.usage.output_tokens': 200,
      'gen_ai.usage.cache_read.input_tokens': 3000,
      'gen_ai.usage.cache_creation.input_tokens': 1000,
      'tollgate.usage.uncached_input_tokens': 100,
      'tollgate.usage.cache_write_5m_tokens': 400,
      'tollgate.usage.cache_write_1h_tokens': 600,
      'user.id': 'end-2',
      'enduser.id': 'end-2',
      'tollgate.stream': true,
      'tollgate.first_token_ms': h.completed[1].timings.firstTokenMs,
    });
    expect(s.attributes['tollgate.first_token_ms']).toBeGreaterThan(0);
    // $1 input, $5 output, $0.10 cache read, $1.25 5m write, $2 1h write per MTok
    const cost = 100n * PICO + 200n * 5n * PICO + 3000n * 100_000n + 400n * 1_250_000n + 600n * 2n * PICO;
    expect(s.attributes['tollgate.cost.pico_usd']).toBe(Number(cost));
    expect(s.attributes['tollgate.cost.usd']).toBe(0.0031);
    expect(s.attributes).not.toHaveProperty('tollgate.tags');
  });

  it('a relayed upstream error: ERROR status, error.type is the HTTP status, no usage', () => {
    const s = spanOf(2);
    expect(s.status).toEqual({ code: 2, message: 'HTTP 429' });
    expect(s.attributes).toMatchObject({ 'error.type': '429', 'http.response.status_code': 429, 'tollgate.key.alias': 'billing' });
    expect(s.attributes).not.toHaveProperty('gen_ai.usage.input_tokens');
  });

  it("the gateway's own error: its type and code, and no caller", () => {
    const s = spanOf(3);
    expect(s.status.code).toBe(2);
    expect(s.attributes).toMatchObject({ 'error.type': 'authentication_error', 'tollgate.error.code': 'TG_ERR_AUTH_INVALID_KEY', 'http.response.status_code': 401 });
    expect(s.attributes).not.toHaveProperty('tollgate.key.alias');
    expect(s.attributes).not.toHaveProperty('tollgate.upstream.request_id');
  });

  it('count_tokens: named by method and route, no chat operation', () => {
    const s = spanOf(4);
    expect(s.name).toBe('POST count_tokens');
    expect(s.attributes).toMatchObject({ 'tollgate.route': 'count_tokens', 'gen_ai.request.model': HAIKU, 'http.response.status_code': 200 });
    expect(s.attributes).not.toHaveProperty('gen_ai.operation.name');
  });

  it('counts every span as sent', async () => {
    // The collector has the spans before the sink has read its answer: wait for the count.
    await until(() => h.stat('otlp').sent === 5);
    expect(h.stat('otlp')).toEqual({
      name: 'otlp',
      type: 'otlp',
      sent: 5,
      dropped: 0,
      lost: { queueFull: 0, rejected: 0, retriesExhausted: 0, shutdown: 0 },
      failed: 0,
      queueDepth: 0,
    });
  });
});
