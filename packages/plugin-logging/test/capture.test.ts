import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageJson, messageStreamEvents } from '@tollgate/testing';
import { loggingPlugin } from '../src/index.js';
import { postMessage, startHarness, type Harness } from './harness.js';
import { startReceiver, until, type Receiver } from './receiver.js';

const MODEL = 'claude-haiku-4-5';
const DATED = 'claude-haiku-4-5-20251001';

describe('body capture (off by default)', () => {
  let hook: Receiver;
  let h: Harness;
  const entries = () => hook.posts.flatMap((p) => p.body as Record<string, any>[]);
  const entryOf = (i: number) => entries().find((e) => e.id === h.completed[i].id)!;
  const reply = messageJson({ id: 'msg_cap', model: DATED, text: 'the answer', usage: { input_tokens: 5, output_tokens: 3 } });
  const request = {
    model: MODEL,
    max_tokens: 16,
    system: 'TOP SECRET SYSTEM PROMPT',
    messages: [{ role: 'user', content: 'private question' }],
    metadata: { user_id: 'end-9' },
    tools: [{ name: 'lookup', input_schema: { type: 'object' }, api_key: 'sk-leaky-tool-key' }],
    litellm_metadata: { user: 'end-lm', tags: ['t'] },
  };

  beforeAll(async () => {
    hook = await startReceiver();
    h = await startHarness({
      logging: {
        webhook: [{ url: hook.url, flushIntervalMs: 5 }],
        capture: { routes: ['messages'], maxBytes: 4096, redactPaths: ['system', 'messages[*].content'] },
      },
    });
    h.mock.once('POST', '/v1/messages', { json: reply });
    await postMessage(h.baseURL, request, 'unused');
    h.mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ id: 'msg_s', model: DATED, text: ['a', 'b'] }) });
    await postMessage(h.baseURL, { ...request, stream: true }, 'unused');
    await fetch(`${h.baseURL}/v1/messages/count_tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    await until(() => entries().length === 3);
  });
  afterAll(async () => {
    await h?.close();
    await hook?.close();
  });

  it('captures the forwarded request body, redacted (configured paths and secret names), on a copy', () => {
    const e = entryOf(0);
    // litellm_metadata never leaves the gateway; its user and tags are in the record.
    const { litellm_metadata: _, ...forwarded } = request;
    expect(JSON.parse(e.requestBody)).toEqual({
      ...forwarded,
      system: '[redacted]',
      messages: [{ role: 'user', content: '[redacted]' }],
      tools: [{ name: 'lookup', input_schema: { type: 'object' }, api_key: '[redacted]' }],
    });
    expect(e).toMatchObject({ endUser: 'end-lm', tags: ['t'] });
    expect(e).not.toHaveProperty('requestBodyTruncated');
    // What went upstream is untouched by the redaction.
    expect(h.mock.requests[0].json()).toEqual(forwarded);
  });

  it('captures a non-streaming response body, with its id and model', () => {
    const e = entryOf(0);
    expect(e.responseBody).toBe(JSON.stringify(reply));
    expect(e).toMatchObject({ responseId: 'msg_cap', responseModel: DATED });
  });

  it('a stream: request body captured, response body not (streams are never held); model from message_start', () => {
    const e = entryOf(1);
    expect(JSON.parse(e.requestBody)).toMatchObject({ stream: true, system: '[redacted]' });
    expect(e).not.toHaveProperty('responseBody');
    expect(e).toMatchObject({ responseId: 'msg_s', responseModel: DATED, stream: true });
  });

  it('route kinds not listed are not captured', () => {
    const e = entryOf(2);
    expect(e.route).toBe('count_tokens');
    expect(e).not.toHaveProperty('requestBody');
    expect(e).not.toHaveProperty('responseBody');
  });
});

describe('body capture size cap', () => {
  it('cuts each body at maxBytes and marks it truncated', async () => {
    const hook = await startReceiver();
    const h = await startHarness({ logging: { webhook: [{ url: hook.url, flushIntervalMs: 5 }], capture: { routes: ['messages'], maxBytes: 64 } } });
    try {
      const reply = messageJson({ id: 'msg_long', text: 'y'.repeat(500) });
      h.mock.once('POST', '/v1/messages', { json: reply });
      const body = { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'x'.repeat(500) }] };
      await postMessage(h.baseURL, body, 'unused');
      await until(() => hook.posts.length === 1);
      const [e] = hook.posts[0].body;
      expect(e.requestBody).toBe(JSON.stringify(body).slice(0, 64));
      expect(e.requestBodyTruncated).toBe(true);
      expect(e.responseBody).toBe(JSON.stringify(reply).slice(0, 64));
      expect(e.responseBodyTruncated).toBe(true);
    } finally {
      await h.close();
      await hook.close();
    }
  });
});

describe('hooks the plugin asks for', () => {
  const setup = (config: Record<string, unknown>) => {
    const noop = () => undefined;
    const api = {
      config: {
        otlp: [],
        file: [{ path: '/dev/null', routes: ['messages'], batchSize: 1, flushIntervalMs: 1, maxQueue: 1, maxAttempts: 1, retryBaseMs: 1, retryMaxMs: 1 }],
        webhook: [],
        capture: { routes: [], request: true, response: true, maxBytes: 64, redactPaths: [] },
        shutdownTimeoutMs: 0,
        ...config,
      },
      gatewayConfig: {},
      log: { warn: noop, child: () => ({}) },
      events: { on: noop },
      provide: noop,
      onClose: noop,
    };
    return loggingPlugin.setup(api as never) as Record<string, unknown>;
  };

  it('holds no response bodies unless response capture is on', () => {
    expect(Object.keys(setup({}))).toEqual([]);
    expect(Object.keys(setup({ capture: { routes: ['messages'], request: true, response: false, maxBytes: 64, redactPaths: [] } }))).toEqual(['onComplete']);
    expect(Object.keys(setup({ capture: { routes: ['messages'], request: false, response: true, maxBytes: 64, redactPaths: [] } }))).toEqual(['onRequest', 'onResponseBody']);
    expect(Object.keys(setup({ file: [] }))).toEqual([]);
  });
});
