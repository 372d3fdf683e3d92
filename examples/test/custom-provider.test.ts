import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, definePlugin, loadConfig, PROVIDERS, type ProviderAdapter } from '@tollgate/core';
import { authPlugin } from '@tollgate/plugin-auth';
import { storagePlugin } from '@tollgate/storage';
import { createMockUpstream, rawRequest, type MockUpstream } from '@tollgate/testing';
import { createOpenAiAdapter } from '../custom-provider/plugin.mjs';
import { EXAMPLES, MASTER_KEY, startGateway, UPSTREAM_KEY, type ExampleGateway } from './helpers.js';

const OPENAI_KEY = 'sk-openai-upstream-example-0123456789';
const modules = { '@tollgate/plugin-auth': authPlugin, '@tollgate/storage': storagePlugin };
const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 } },
};
const chunk = (delta: object, extra: object = {}) => `data: ${JSON.stringify({ id: 'chatcmpl-2', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta }], ...extra })}\n\n`;

let upstream: MockUpstream;
let t: ExampleGateway;
beforeAll(async () => {
  upstream = await createMockUpstream();
  // The example's own YAML; both providers point at the mock.
  const env = { PORT: '0', HOST: '127.0.0.1', ANTHROPIC_BASE_URL: upstream.url, ANTHROPIC_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: upstream.url, OPENAI_API_KEY: OPENAI_KEY, TOLLGATE_MASTER_KEY: MASTER_KEY, DATABASE_URL: 'file::memory:' };
  const config = await loadConfig(join(EXAMPLES, 'custom-provider', 'tollgate.yaml'), env);
  t = await startGateway({ upstream, config, modules, env });
});
afterAll(async () => {
  await t.close();
  await upstream.close();
});

const chat = (body: object, key = MASTER_KEY) =>
  rawRequest(`${t.url}/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('examples/custom-provider (an OpenAI-compatible upstream at /openai)', () => {
  it('forwards through the pipeline with the upstream key, and records model, end user and usage', async () => {
    upstream.once('POST', '/v1/chat/completions', { json: completion });
    const sent = { model: 'gpt-4o-mini', user: 'end-user-7', messages: [{ role: 'user', content: 'Hi' }] };
    const res = await chat(sent);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual(completion);
    const [req] = upstream.requests;
    expect([req.path, req.headers.authorization, req.json()]).toEqual(['/v1/chat/completions', `Bearer ${OPENAI_KEY}`, sent]);
    const [record] = await t.waitForRecords(1);
    expect(record).toMatchObject({ provider: 'openai', routeKind: 'messages', model: 'gpt-4o-mini', endUser: 'end-user-7', status: 200, principal: { kind: 'master' } });
    expect(record.usage).toMatchObject({ inputTokens: 8, cacheReadTokens: 4, outputTokens: 3 });
  });

  it('relays a stream as it came and reads its usage from the last chunk', async () => {
    t.records.length = 0;
    const stream = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, { choices: [], usage: { prompt_tokens: 9, completion_tokens: 2 } }), 'data: [DONE]\n\n'];
    upstream.once('POST', '/v1/chat/completions', { chunks: stream, headers: { 'content-type': 'text/event-stream' }, eventDelayMs: 40 });
    const res = await chat({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.body.toString()).toBe(stream.join(''));
    const [record] = await t.waitForRecords(1);
    expect(record).toMatchObject({ provider: 'openai', stream: true, usage: { inputTokens: 9, outputTokens: 2 } });
    // The first token is the first text ("Hel", one delay in), not the role chunk before it.
    expect(record.timings.firstTokenMs).toBeGreaterThanOrEqual(35);
  });

  it('is behind the same auth as /anthropic, in the gateway error shape', async () => {
    const before = upstream.requests.length;
    const res = await chat({ model: 'gpt-4o-mini', messages: [] }, 'sk-wrong');
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body.toString()).error.type).toBe('authentication_error');
    expect(upstream.requests).toHaveLength(before);
  });
});

describe('api.provider', () => {
  const adapter = (name: string, mountPath: string): ProviderAdapter => createOpenAiAdapter({ baseUrl: 'http://127.0.0.1:9', apiKey: null, mountPath, timeoutMs: 1000 });
  const adding = (...adapters: ProviderAdapter[]) => definePlugin({ name: 'adds', priority: 500, setup: (api) => adapters.forEach((a) => api.provider(a)) });
  const boot = (plugin: ReturnType<typeof adding>) => createGateway({ config: { providers: { anthropic: { apiKey: UPSTREAM_KEY } } }, plugins: [plugin], logDestination: { write: () => true } });

  it('lists added providers under PROVIDERS, for plugins set up before or after', async () => {
    const gw = await boot(adding(adapter('openai', '/openai')));
    try {
      expect(gw.container.resolve(PROVIDERS).map((p) => [p.name, p.mountPath])).toEqual([['anthropic', '/anthropic'], ['openai', '/openai']]);
    } finally {
      await gw.close();
    }
  });

  it('refuses a second mount at the same path, a mount that is not one segment, and one over a route', async () => {
    await expect(boot(adding(adapter('openai', '/anthropic')))).rejects.toThrow('plugin "adds" cannot add provider "openai": /anthropic is provider "anthropic"\'s mount');
    await expect(boot(adding(adapter('openai', '/v1/openai')))).rejects.toThrow('mountPath must be one path segment like "/openai", got "/v1/openai"');
    await expect(boot(adding(adapter('openai', '/health')))).rejects.toThrow('provider "openai" is mounted at /health, which would hide the route /health/liveliness');
  });
});
