import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createMockUpstream, messageJson, messageStreamEvents, rawRequest, type MockUpstream } from '@tollgate/testing';
import { createGateway, definePlugin, GatewayError, loadConfig, resolvePlugins, type Outcome, type PluginDefinition } from '../src/index.js';
import { startGateway } from './helpers.js';

let upstream: MockUpstream;
beforeAll(async () => {
  upstream = await createMockUpstream();
});
afterAll(() => upstream.close());
afterEach(() => upstream.reset());

const body = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
const post = (url: string, extra: Record<string, string> = {}) =>
  rawRequest(`${url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...extra }, body });

function outcomes(): { seen: Outcome[]; plugin: PluginDefinition } {
  const seen: Outcome[] = [];
  return { seen, plugin: definePlugin({ name: 'watch', priority: 100, setup: () => ({ onComplete: (_ctx, o) => void seen.push(o) }) }) };
}

describe('plugin hooks', () => {
  it('onComplete runs exactly once for success, upstream error, gateway error and short-circuit', async () => {
    const { seen, plugin } = outcomes();
    const gate = definePlugin({
      name: 'gate',
      priority: 950,
      setup: () => ({
        onRequest(ctx) {
          if (ctx.request.headers['x-deny'] === 'reply') return { status: 402, body: { type: 'error', error: { type: 'billing_error', message: 'pay up' } } };
          if (ctx.request.headers['x-deny'] === 'throw') throw new GatewayError('TG_ERR_FORBIDDEN', 'not you');
        },
      }),
    });
    const t = await startGateway({ upstream, plugins: [plugin, gate] });
    try {
      upstream.once('POST', '/v1/messages', { status: 500, json: { type: 'error', error: { type: 'api_error', message: 'boom' } } });
      expect((await post(t.url)).status).toBe(500);
      expect((await post(t.url)).status).toBe(200);
      const replied = await post(t.url, { 'x-deny': 'reply' });
      expect([replied.status, JSON.parse(replied.body.toString()).error.message]).toEqual([402, 'pay up']);
      const thrown = await post(t.url, { 'x-deny': 'throw' });
      expect([thrown.status, JSON.parse(thrown.body.toString()).error]).toEqual([403, { type: 'permission_error', message: 'not you' }]);
      await t.waitForRecords(4);
      expect(seen.map((o) => [o.status, o.error?.code])).toEqual([[500, undefined], [200, undefined], [402, undefined], [403, 'TG_ERR_FORBIDDEN']]);
      expect(upstream.requests).toHaveLength(2);
    } finally {
      await t.close();
    }
  });

  it('beforeUpstream can edit headers; onResponseHeaders and onChunk see the response', async () => {
    const events: string[] = [];
    const statuses: number[] = [];
    const edit = definePlugin({
      name: 'edit',
      priority: 500,
      setup: () => ({
        beforeUpstream(_ctx, up) {
          up.headers['x-added-by-plugin'] = 'yes';
        },
        async onResponseHeaders(_ctx, head) {
          await Promise.resolve();
          statuses.push(head.status);
          head.headers['x-tollgate-test'] = 'seen';
        },
        onChunk: (_ctx, ev) => void events.push(ev.event),
      }),
    });
    const t = await startGateway({ upstream, plugins: [edit] });
    try {
      upstream.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a', 'b'] }) });
      const res = await post(t.url);
      expect(res.headers['x-tollgate-test']).toBe('seen');
      expect(upstream.requests[0].headers['x-added-by-plugin']).toBe('yes');
      expect(statuses).toEqual([200]);
      expect(events).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    } finally {
      await t.close();
    }
  });

  it('onResponseBody sees a whole non-streaming message and can add headers; the body goes out byte for byte', async () => {
    const seen: unknown[] = [];
    const stamp = definePlugin({
      name: 'stamp',
      priority: 100,
      setup: () => ({
        onRequest: (ctx) => ctx.holdResponseBody(),
        async onResponseBody(ctx, head, body) {
          await Promise.resolve();
          seen.push({ body, response: ctx.response });
          head.headers['x-output-tokens'] = String(ctx.usage?.outputTokens);
        },
      }),
    });
    const t = await startGateway({ upstream, plugins: [stamp] });
    try {
      const raw = '{"id":"msg_1","type":"message","usage":{"input_tokens":3,"output_tokens":9}}';
      upstream.once('POST', '/v1/messages', { body: raw, headers: { 'content-type': 'application/json' } });
      const res = await post(t.url);
      expect([res.headers['x-output-tokens'], res.headers['content-length'], res.body.toString()]).toEqual(['9', String(raw.length), raw]);
      upstream.once('POST', '/v1/messages', { json: JSON.parse(raw), gzip: true });
      const gz = await post(t.url, { 'accept-encoding': 'gzip' });
      expect([gz.headers['x-output-tokens'], gz.headers['content-encoding']]).toEqual(['9', 'gzip']);
      upstream.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a'] }) });
      const streamed = await post(t.url);
      expect(streamed.headers['x-output-tokens']).toBeUndefined();
      const message = { body: JSON.parse(raw), response: { id: 'msg_1', model: undefined } };
      expect(seen).toEqual([message, message]);
    } finally {
      await t.close();
    }
  });

  it('onChunk reads batch results line by line', async () => {
    const lines: string[] = [];
    const reader = definePlugin({ name: 'reader', priority: 100, setup: () => ({ onChunk: (_ctx, ev) => void (ev.event === 'line' && lines.push(ev.data)) }) });
    const t = await startGateway({ upstream, plugins: [reader] });
    try {
      const created = await rawRequest(`${t.url}/anthropic/v1/messages/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ requests: [{ custom_id: 'ok-1', params: { model: 'm', max_tokens: 5, messages: [] } }, { custom_id: 'err-2', params: { model: 'm', max_tokens: 5, messages: [] } }] }),
      });
      const { id } = JSON.parse(created.body.toString()) as { id: string };
      const results = await rawRequest(`${t.url}/anthropic/v1/messages/batches/${id}/results`);
      const expected = results.body.toString().split('\n').filter((l) => l.trim() !== '');
      expect(expected).toHaveLength(2);
      expect(lines).toEqual(expected);
    } finally {
      await t.close();
    }
  });

  it('a throwing onResponseHeaders hook becomes a 500 in Anthropic shape and aborts the upstream', async () => {
    const broken = definePlugin({ name: 'broken', priority: 100, setup: () => ({ onResponseHeaders: () => { throw new Error('bug'); } }) });
    const t = await startGateway({ upstream, plugins: [broken] });
    try {
      upstream.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a', 'b'] }), eventDelayMs: 50 });
      const res = await post(t.url);
      expect([res.status, JSON.parse(res.body.toString()).error]).toEqual([500, { type: 'api_error', message: 'internal gateway error' }]);
      const [record] = await t.waitForRecords(1);
      expect(record.error?.code).toBe('TG_ERR_INTERNAL');
    } finally {
      await t.close();
    }
  });

  it('a config priority override reorders hooks', async () => {
    const order: string[] = [];
    const mk = (name: string, priority: number) => definePlugin({ name, priority, setup: () => ({ onRequest: () => void order.push(name) }) });
    const t = await startGateway({ upstream, plugins: [mk('a', 10), { plugin: mk('b', 20), priority: 5 }] });
    try {
      await post(t.url);
      expect(order).toEqual(['a', 'b']);
      expect(t.gw.plugins).toEqual([{ name: 'metadata', priority: 800 }, { name: 'a', priority: 10 }, { name: 'b', priority: 5 }]);
    } finally {
      await t.close();
    }
  });

  it('plugins add routes, readiness checks and close hooks; DI shares values', async () => {
    const TOKEN = Symbol('answer');
    let ready = false;
    const closed: string[] = [];
    const provider = definePlugin({
      name: 'provider',
      priority: 600,
      setup(api) {
        api.provide(TOKEN, 42);
        api.readiness('thing', () => ready);
        api.onClose(() => void closed.push('provider'));
      },
    });
    const consumer = definePlugin({
      name: 'consumer',
      priority: 500,
      dependencies: ['provider'],
      setup(api) {
        const answer = api.resolve<number>(TOKEN);
        api.route('GET', '/answer', (req) => ({ body: { answer, q: req.query.get('q') } }));
        api.onClose(() => void closed.push('consumer'));
      },
    });
    const t = await startGateway({ upstream, plugins: [consumer, provider] });
    const answer = await rawRequest(`${t.url}/answer?q=life`);
    expect(JSON.parse(answer.body.toString())).toEqual({ answer: 42, q: 'life' });
    expect((await rawRequest(`${t.url}/health/readiness`)).status).toBe(503);
    ready = true;
    const r = await rawRequest(`${t.url}/health/readiness`);
    expect([r.status, JSON.parse(r.body.toString())]).toEqual([200, { status: 'ready', checks: { thing: 'ok' } }]);
    await t.close();
    expect(closed).toEqual(['consumer', 'provider']);
  });
});

describe('plugin routes', () => {
  it('read JSON bodies sent plain or gzip-compressed', async () => {
    const echo = definePlugin({
      name: 'echo',
      priority: 500,
      setup(api) {
        api.route('POST', '/echo', async (req) => ({ body: { got: await req.json() } }));
      },
    });
    const t = await startGateway({ upstream, plugins: [echo] });
    try {
      const send = (body: Buffer, headers: Record<string, string> = {}) => rawRequest(`${t.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const plain = await send(Buffer.from('{"a":1}'));
      const zipped = await send(gzipSync('{"a":2}'), { 'content-encoding': 'gzip' });
      expect([plain.status, JSON.parse(plain.body.toString())]).toEqual([200, { got: { a: 1 } }]);
      expect([zipped.status, JSON.parse(zipped.body.toString())]).toEqual([200, { got: { a: 2 } }]);
    } finally {
      await t.close();
    }
  });

  it('refuse NUL characters in query parameters and body strings with a 400 (PostgreSQL cannot hold them)', async () => {
    const echo = definePlugin({
      name: 'echo',
      priority: 500,
      setup(api) {
        api.route('POST', '/echo', async (req) => ({ body: { got: await req.json(), q: req.query.get('q') } }));
      },
    });
    const t = await startGateway({ upstream, plugins: [echo] });
    try {
      const send = (query: string, body: string) => rawRequest(`${t.url}/echo${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const error = async (r: ReturnType<typeof send>) => {
        const res = await r;
        return [res.status, JSON.parse(res.body.toString()).error];
      };
      expect(await error(send('?q=a%00b', '{}'))).toEqual([400, { type: 'invalid_request_error', message: 'query parameters must not contain NUL characters' }]);
      expect(await error(send('', '{"alias":"a\\u0000b"}'))).toEqual([400, { type: 'invalid_request_error', message: 'strings in the request body must not contain NUL characters' }]);
      expect(await error(send('', '{"nested":[{"a\\u0000":1}]}'))).toEqual([400, { type: 'invalid_request_error', message: 'strings in the request body must not contain NUL characters' }]);
      const fine = await send('?q=ok', '{"alias":"ab"}');
      expect([fine.status, JSON.parse(fine.body.toString())]).toEqual([200, { got: { alias: 'ab' }, q: 'ok' }]);
    } finally {
      await t.close();
    }
  });
});

describe('request:complete', () => {
  it('a throwing listener is logged, and neither crashes the gateway nor starves other listeners', async () => {
    const t = await startGateway({ upstream });
    try {
      t.gw.events.on('request:complete', () => {
        throw new Error('exporter bug');
      });
      expect((await post(t.url)).status).toBe(200);
      expect((await post(t.url)).status).toBe(200);
      await t.waitForRecords(2);
      expect(t.logs.filter((l) => l.includes('a request:complete listener failed'))).toHaveLength(2);
    } finally {
      await t.close();
    }
  });

  it('records 499 for a client that left before the upstream answered', async () => {
    const t = await startGateway({ upstream });
    try {
      upstream.once('POST', '/v1/messages', { hang: true });
      const ac = new AbortController();
      const pending = rawRequest(`${t.url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: ac.signal }).catch((e: unknown) => e);
      const [sent] = await upstream.waitForRequests(1);
      ac.abort();
      await pending;
      await sent.done;
      const [record] = await t.waitForRecords(1);
      expect([record.status, record.aborted, sent.closedEarly]).toEqual([499, true, true]);
    } finally {
      await t.close();
    }
  });
});

describe('boot-time checks', () => {
  const noop = (name: string, extra: Partial<PluginDefinition> = {}) => definePlugin({ name, priority: 1, setup: () => ({}), ...extra });

  it('refuses a plugin loaded twice', async () => {
    await expect(createGateway({ plugins: [noop('x'), noop('x')], env: {} })).rejects.toThrow('plugin "x" is loaded twice');
  });

  it('refuses a missing dependency', async () => {
    await expect(createGateway({ plugins: [noop('x', { dependencies: ['y'] })], env: {} })).rejects.toThrow('plugin "x" needs plugin "y", which is not loaded');
  });

  it('refuses a module that is not a plugin', async () => {
    await expect(createGateway({ plugins: [{ name: 'x' } as PluginDefinition], env: {} })).rejects.toMatchObject({ code: 'TG_ERR_PLUGIN' });
  });

  it('sets up dependencies first, whatever their priority, and refuses cycles', async () => {
    const order: string[] = [];
    const mk = (name: string, priority: number, dependencies: string[] = []) =>
      definePlugin({ name, priority, dependencies, setup: () => void order.push(name) });
    const gw = await createGateway({ plugins: [mk('auth', 900, ['storage']), mk('storage', 0), mk('edge', 1000)], env: {}, logDestination: { write: () => {} } });
    expect(order).toEqual(['edge', 'storage', 'auth']);
    await gw.close();
    await expect(createGateway({ plugins: [mk('a', 1, ['b']), mk('b', 2, ['a'])], env: {} })).rejects.toThrow('plugin dependencies form a cycle');
  });

  it('fails the boot when an onReady check throws, and closes what was set up', async () => {
    const closed: string[] = [];
    const picky = noop('picky', { setup: (api) => { api.onClose(() => void closed.push('picky')); api.onReady(() => { throw new Error('needs a friend'); }); } });
    await expect(createGateway({ plugins: [picky], env: {}, logDestination: { write: () => {} } })).rejects.toThrow(`a plugin's onReady check failed: needs a friend`);
    expect(closed).toEqual(['picky']);
  });

  it('wraps a failing setup in TG_ERR_PLUGIN, closing the plugins already set up', async () => {
    const closed: string[] = [];
    const first = noop('first', { priority: 10, setup: (api) => void api.onClose(() => void closed.push('first')) });
    const bad = noop('bad', { setup: () => { throw new Error('no database'); } });
    await expect(createGateway({ plugins: [first, bad], env: {}, logDestination: { write: () => {} } })).rejects.toThrow('plugin "bad" failed to set up: no database');
    expect(closed).toEqual(['first']);
  });
});

describe('plugins from YAML', () => {
  it('loads a plugin by file path, validates its config with its schema, and reports bad options with their line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tg-plugin-'));
    await writeFile(
      join(dir, 'stamp.mjs'),
      `export default {
        name: 'stamp', priority: 400,
        configSchema: { type: 'object', additionalProperties: false, properties: { header: { type: 'string', default: 'x-stamp' }, value: { type: 'string' } }, required: ['value'] },
        setup(api) { return { beforeUpstream(ctx, up) { up.headers[api.config.header] = api.config.value; } }; },
      };\n`,
    );
    const good = join(dir, 'good.yaml');
    await writeFile(good, `server: { host: 127.0.0.1, port: 0 }\nproviders:\n  anthropic: { baseUrl: "${upstream.url}", apiKey: up }\nplugins:\n  - use: ./stamp.mjs\n    config: { value: "\${STAMP:-v1}" }\n`);
    const config = await loadConfig(good, {});
    expect(await resolvePlugins(config)).toEqual([{ name: 'metadata', priority: 800 }, { name: 'stamp', priority: 400 }]);
    const gw = await createGateway({ config, env: {}, logDestination: { write: () => {} } });
    const { url } = await gw.listen();
    try {
      upstream.once('POST', '/v1/messages', { json: messageJson() });
      await post(url);
      expect(upstream.requests[0].headers['x-stamp']).toBe('v1');
    } finally {
      await gw.close();
    }
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'plugins:\n  - use: ./stamp.mjs\n    config:\n      valeu: v1\n');
    const err = await resolvePlugins(await loadConfig(bad, {})).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain(`${bad}:4:7: plugins[0].config.valeu: unknown key "valeu"`);
    expect((err as Error).message).toContain(`${bad}:4:7: plugins[0].config: missing required key "value"`);
    const missing = join(dir, 'missing.yaml');
    await writeFile(missing, 'plugins:\n  - use: ./nope.mjs\n');
    await expect(resolvePlugins(await loadConfig(missing, {}))).rejects.toThrow('cannot load plugin "./nope.mjs"');
  });
});

describe('graceful shutdown', () => {
  it('lets an in-flight stream finish, refuses new requests, then closes', async () => {
    const t = await startGateway({ upstream });
    upstream.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a', 'b', 'c', 'd'] }), eventDelayMs: 40 });
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    const streaming = rawRequest(`${t.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', max_tokens: 5, stream: true, messages: [] }),
      onChunk: (_c, i) => i === 0 && first(),
    });
    await gotFirst;
    const closing = t.gw.close({ graceMs: 5000 });
    const res = await streaming;
    await closing;
    expect(res.error).toBeUndefined();
    expect(res.body.toString()).toContain('event: message_stop');
    await expect(rawRequest(`${t.url}/health/liveliness`)).rejects.toThrow();
  });

  it('cuts streams that outlive the grace period', async () => {
    const t = await startGateway({ upstream });
    upstream.once('POST', '/v1/messages', { hang: true });
    const pending = post(t.url).catch((e: unknown) => e);
    await upstream.waitForRequests(1);
    await t.gw.close({ graceMs: 50 });
    const [record] = await t.waitForRecords(1);
    expect(record.aborted).toBe(true);
    await pending;
  });
});
