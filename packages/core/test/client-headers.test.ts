import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMockUpstream, rawRequest, type MockUpstream } from '@tollgate/testing';
import { definePlugin } from '../src/plugin.js';
import { startGateway, UPSTREAM_KEY, type TestGateway } from './helpers.js';

let upstream: MockUpstream;
let t: TestGateway;
let root: TestGateway;

/** Stands in for the auth plugin: a request whose x-client-pays header says so brings its own credential. */
const ownCredentials = definePlugin({
  name: 'own-credentials',
  priority: 900,
  setup: () => ({
    onRequest(ctx) {
      if (ctx.request.headers['x-client-pays'] === 'key') ctx.billing = 'client_key';
      if (ctx.request.headers['x-client-pays'] === 'subscription') ctx.billing = 'subscription';
    },
  }),
});

beforeAll(async () => {
  upstream = await createMockUpstream();
  t = await startGateway({ upstream, plugins: [ownCredentials] });
  root = await startGateway({ upstream, config: { providers: { anthropic: { mountAtRoot: true } } } });
});
afterAll(async () => {
  await t.close();
  await root.close();
  await upstream.close();
});
afterEach(() => {
  upstream.reset();
  t.records.length = 0;
  root.records.length = 0;
});

const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'Hi' }] });
const post = (url: string, headers: Record<string, string>) => rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('client credentials and the gateway key header', () => {
  it('never forwards the gateway key header; the gateway pays unless a plugin said the client does', async () => {
    const res = await post(`${t.baseURL}/v1/messages`, { 'x-tollgate-key': 'sk-tg-virtual', 'x-api-key': 'sk-ant-client', authorization: 'Bearer sk-ant-oat01-x' });
    expect(res.status).toBe(200);
    const [sent] = upstream.requests;
    expect([sent.headers['x-tollgate-key'], sent.headers['x-api-key'], sent.headers.authorization]).toEqual([undefined, UPSTREAM_KEY, undefined]);
    expect((await t.waitForRecords(1))[0].billing).toBe('gateway');
  });

  it("forwards the client's own x-api-key and every beta, and never the upstream key, when it pays", async () => {
    const betas = 'claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14';
    await post(`${t.baseURL}/v1/messages?beta=true`, { 'x-tollgate-key': 'sk-tg-virtual', 'x-api-key': 'sk-ant-client', 'anthropic-beta': betas, 'x-client-pays': 'key' });
    const [sent] = upstream.requests;
    expect(sent.path).toBe('/v1/messages?beta=true');
    expect([sent.headers['x-tollgate-key'], sent.headers['x-api-key'], sent.headers['anthropic-beta']]).toEqual([undefined, 'sk-ant-client', betas]);
    expect((await t.waitForRecords(1))[0].billing).toBe('client_key');
  });

  it('relays a subscription Bearer token untouched, with no x-api-key added', async () => {
    await post(`${t.baseURL}/v1/messages`, { 'x-tollgate-key': 'sk-tg-virtual', authorization: 'Bearer sk-ant-oat01-x', 'x-client-pays': 'subscription' });
    const [sent] = upstream.requests;
    expect([sent.headers.authorization, sent.headers['x-api-key']]).toEqual(['Bearer sk-ant-oat01-x', undefined]);
  });
});

describe('what Claude Code needs besides', () => {
  it('answers HEAD /anthropic/api/hello itself: no upstream call, no record', async () => {
    const res = await rawRequest(`${t.baseURL}/api/hello`, { method: 'HEAD' });
    expect([res.status, res.headers['content-length']]).toEqual([200, '0']);
    expect(upstream.requests).toHaveLength(0);
    expect(t.records).toHaveLength(0);
  });

  it('offers the upstream only codings the gateway can read on messages, and leaves other routes alone', async () => {
    await post(`${t.baseURL}/v1/messages`, { 'accept-encoding': 'gzip, deflate, br, zstd' });
    await post(`${t.baseURL}/v1/messages`, { 'accept-encoding': 'zstd' });
    await rawRequest(`${t.baseURL}/v1/models`, { headers: { 'accept-encoding': 'gzip, zstd' } });
    expect(upstream.requests.map((r) => r.headers['accept-encoding'])).toEqual(['gzip, deflate, br', undefined, 'gzip, zstd']);
  });

  it('serves the Anthropic API at the root when mountAtRoot is on, and only then', async () => {
    const res = await post(`${root.url}/v1/messages`, {});
    expect(res.status).toBe(200);
    expect(upstream.requests.map((r) => r.path)).toEqual(['/v1/messages']);
    expect((await root.waitForRecords(1))[0]).toMatchObject({ path: '/anthropic/v1/messages', routeKind: 'messages' });
    expect((await rawRequest(`${root.url}/api/hello`, { method: 'HEAD' })).status).toBe(200);
    expect((await post(`${t.url}/v1/messages`, {})).status).toBe(404);
  });
});
