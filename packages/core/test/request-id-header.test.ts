import { createMockUpstream, errorReply, messageStreamEvents, rawRequest, type MockUpstream } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePlugin, GatewayError } from '../src/index.js';
import { REQUEST_ID_HEADER } from '../src/request-id.js';
import { startGateway, type TestGateway } from './helpers.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let mock: MockUpstream;
let t: TestGateway;
beforeAll(async () => {
  mock = await createMockUpstream();
  const refuser = definePlugin({
    name: 'refuser',
    priority: 700,
    setup: () => ({ onRequest: (ctx) => { if (ctx.request.headers['x-refuse']) throw new GatewayError('TG_ERR_FORBIDDEN', 'refused'); } }),
  });
  t = await startGateway({ upstream: mock, plugins: [refuser] });
});
afterAll(async () => {
  await t?.close();
  await mock?.close();
});

const ask = (headers: Record<string, string> = {}, body: object = {}) =>
  rawRequest(`${t.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }], ...body }),
  });

describe(`the ${REQUEST_ID_HEADER} header`, () => {
  it('is on a success, JSON and streamed, with the id of the completion record', async () => {
    const json = await ask();
    mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: 'Hi' }) });
    const stream = await ask({}, { stream: true });
    expect([json.status, stream.status]).toEqual([200, 200]);
    const records = await t.waitForRecords(2);
    expect([json.headers[REQUEST_ID_HEADER], stream.headers[REQUEST_ID_HEADER]]).toEqual(records.slice(-2).map((r) => r.id));
    expect(json.headers[REQUEST_ID_HEADER]).toMatch(UUID_V7);
  });

  it('is on an upstream error relayed as is, and on a gateway error, equal to its request_id', async () => {
    mock.once('POST', '/v1/messages', errorReply('overloaded_error', 'Overloaded', 529));
    const relayed = await ask();
    expect(relayed.status).toBe(529);
    expect(relayed.headers[REQUEST_ID_HEADER]).toMatch(UUID_V7);
    const refused = await ask({ 'x-refuse': '1' });
    expect(refused.status).toBe(403);
    expect(refused.headers[REQUEST_ID_HEADER]).toBe(JSON.parse(refused.body.toString()).request_id);
  });

  it('is on health and other routes, and on a 404, each response its own', async () => {
    const a = await rawRequest(`${t.url}/health/liveliness`);
    const b = await rawRequest(`${t.url}/health/liveliness`);
    const missing = await rawRequest(`${t.url}/no-such-route`);
    expect([a.status, missing.status]).toEqual([200, 404]);
    for (const r of [a, b, missing]) expect(r.headers[REQUEST_ID_HEADER]).toMatch(UUID_V7);
    expect(a.headers[REQUEST_ID_HEADER]).not.toBe(b.headers[REQUEST_ID_HEADER]);
  });
});
