import { afterEach, beforeEach, describe, it, expect } from 'vitest';
import type { ModelInfo } from './anthropic-fixtures.js';
import { createMockUpstream, type MockUpstream } from './mock-upstream.js';
import type { Page } from './pagination.js';
import { parseSseEvents } from './sse.js';

let mock: MockUpstream;

beforeEach(async () => {
  mock = await createMockUpstream();
});

afterEach(async () => {
  await mock.close();
});

const params = { model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
const usage = {
  input_tokens: 11, // estimateInputTokens(params)
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
  output_tokens: 4,
  service_tier: 'standard',
};

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${mock.url}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
}

describe('default Anthropic API', () => {
  it('POST /v1/messages returns a Message', async () => {
    const res = await post('/v1/messages', params);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('request-id')).toMatch(/^req_[0-9a-f]{24}$/);
    expect(res.headers.get('anthropic-organization-id')).toBe('org_mock');
    expect(await res.json()).toEqual({
      id: expect.stringMatching(/^msg_[0-9a-f]{24}$/),
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      content: [{ type: 'text', text: 'Hello from mock' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage,
    });
  });

  it('POST /v1/messages with stream: true streams the Anthropic event sequence', async () => {
    const res = await post('/v1/messages', { ...params, stream: true });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = parseSseEvents(await res.text());
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const start = events[0].data as { message: { model: string; usage: object } };
    expect(start.message.model).toBe('claude-test');
    expect(start.message.usage).toEqual({ ...usage, output_tokens: 1 });
    const text = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => (e.data as { delta: { text: string } }).delta.text)
      .join('');
    expect(text).toBe('Hello from mock');
    expect(events[7].data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 4 },
    });
  });

  it('rejects invalid JSON and a missing model with 400', async () => {
    const invalid = await post('/v1/messages', '{"model":');
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'Request body must be a JSON object' },
    });
    const noModel = await post('/v1/messages', { messages: [] });
    expect(noModel.status).toBe(400);
    expect(await noModel.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'model: Field required' } });
  });

  it('POST /v1/messages/count_tokens counts deterministically', async () => {
    const { max_tokens: _, ...countParams } = params;
    const res = await post('/v1/messages/count_tokens', countParams);
    expect(await res.json()).toEqual({ input_tokens: 11 });
  });

  it('GET /v1/models lists models with pagination', async () => {
    const all = (await (await fetch(`${mock.url}/v1/models`)).json()) as Page<ModelInfo>;
    expect(all.has_more).toBe(false);
    expect(all.data.length).toBe(4);
    expect(all.data[0]).toEqual({
      type: 'model',
      id: 'claude-haiku-4-5-20251001',
      display_name: 'Claude Haiku 4.5',
      created_at: '2025-10-15T00:00:00Z',
    });
    expect(all.first_id).toBe('claude-haiku-4-5-20251001');
    expect(all.last_id).toBe('claude-3-5-haiku-20241022');
    const page = await (await fetch(`${mock.url}/v1/models?limit=2&after_id=claude-haiku-4-5-20251001`)).json();
    expect(page).toEqual({
      data: [all.data[1], all.data[2]],
      has_more: true,
      first_id: 'claude-sonnet-4-5-20250929',
      last_id: 'claude-opus-4-1-20250805',
    });
    const before = (await (await fetch(`${mock.url}/v1/models?limit=1&before_id=claude-sonnet-4-5-20250929`)).json()) as Page<ModelInfo>;
    expect(before.data.map((m) => m.id)).toEqual(['claude-haiku-4-5-20251001']);
    expect(before.has_more).toBe(false);
  });

  it('GET /v1/models/:id returns one model or 404', async () => {
    const one = await fetch(`${mock.url}/v1/models/claude-opus-4-1-20250805`);
    expect(((await one.json()) as ModelInfo).display_name).toBe('Claude Opus 4.1');
    const missing = await fetch(`${mock.url}/v1/models/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'model: nope' } });
  });

  it('answers anything else with a 404 not_found_error', async () => {
    const res = await fetch(`${mock.url}/v2/unknown?x=1`, { method: 'DELETE' });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.text()).toBe('{"type":"error","error":{"type":"not_found_error","message":"Not found: /v2/unknown"}}');
  });
});
