import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import Anthropic, { APIError, BadRequestError } from '@anthropic-ai/sdk';
import { createMockUpstream, messageJson, rawRequest, type MockUpstream } from '@tollgate/testing';
import { startGateway, UPSTREAM_KEY, type TestGateway } from './helpers.js';

let upstream: MockUpstream;
let t: TestGateway;
let client: Anthropic;

beforeAll(async () => {
  upstream = await createMockUpstream();
  t = await startGateway({ upstream });
  client = new Anthropic({ apiKey: 'client-key-not-forwarded', baseURL: t.baseURL, maxRetries: 0 });
});
afterAll(async () => {
  await t.close();
  await upstream.close();
});
afterEach(() => {
  upstream.reset();
  t.records.length = 0;
});

const params = { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hi' }] };

describe('Anthropic pass-through (SDK)', () => {
  it('forwards a message with the upstream key swapped in, and relays the answer', async () => {
    const fixture = messageJson({ model: 'claude-sonnet-4-5', usage: { input_tokens: 21, output_tokens: 7 } });
    upstream.once('POST', '/v1/messages', { json: fixture, headers: { 'request-id': 'req_upstream_1', 'anthropic-ratelimit-requests-remaining': '99' } });
    const { data, response } = await client.messages.create(params).withResponse();
    expect(data).toEqual(fixture);
    expect(response.headers.get('request-id')).toBe('req_upstream_1');
    expect(response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('99');
    const [sent] = upstream.requests;
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers['x-api-key']).toBe(UPSTREAM_KEY);
    expect(sent.headers.authorization).toBeUndefined();
    // @anthropic-ai/sdk 1.x speaks the 2026-10-21 API generation by default.
    expect(sent.headers['anthropic-version']).toBe('2026-10-21');
    expect(sent.json()).toEqual(params);
    const [record] = await t.waitForRecords(1);
    expect(record).toMatchObject({ status: 200, routeKind: 'messages', provider: 'anthropic', model: 'claude-sonnet-4-5', stream: false, upstreamRequestId: 'req_upstream_1', aborted: false });
    expect(record.usage).toMatchObject({ inputTokens: 21, outputTokens: 7, cacheReadTokens: 0, cacheWriteTokens: 0 });
    expect(record.error).toBeUndefined();
  });

  it('forwards the body byte for byte when there is nothing to strip', async () => {
    const body = '{ "model" : "claude-haiku-4-5",\n  "max_tokens": 5, "messages": [{"role":"user","content":"\\u00e9"}], "metadata": {"user_id": "u-42"} }';
    const res = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'k' }, body });
    expect(res.status).toBe(200);
    expect(upstream.requests[0].body.toString()).toBe(body);
    const [record] = await t.waitForRecords(1);
    expect(record.endUser).toBe('u-42');
  });

  it('strips litellm_metadata, keeps metadata.user_id, and prefers litellm_metadata.user as end user', async () => {
    await client.messages.create({ ...params, metadata: { user_id: 'anthropic-user' }, litellm_metadata: { tags: ['team-a', 'exp'], user: 'end-user-7' } } as Anthropic.MessageCreateParamsNonStreaming);
    expect(upstream.requests[0].json()).toEqual({ ...params, metadata: { user_id: 'anthropic-user' } });
    const [record] = await t.waitForRecords(1);
    expect(record.tags).toEqual(['team-a', 'exp']);
    expect(record.endUser).toBe('end-user-7');
  });

  it('rejects a malformed litellm_metadata with a 400, forwarding nothing', async () => {
    const err = await client.messages.create({ ...params, litellm_metadata: { tags: 'not-a-list' } } as Anthropic.MessageCreateParamsNonStreaming).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'litellm_metadata.tags must be an array of strings' } });
    expect(upstream.requests).toHaveLength(0);
  });

  it('keeps the query string (?beta=true) and passes both API generations through', async () => {
    for (const version of ['2023-06-01', '2026-10-21']) {
      const res = await rawRequest(`${t.baseURL}/v1/messages?beta=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': version, 'anthropic-beta': 'context-1m-2025-08-07' },
        body: JSON.stringify(params),
      });
      expect(res.status).toBe(200);
    }
    await client.messages.create(params, { headers: { 'anthropic-version': '2023-06-01' } });
    expect(upstream.requests.map((r) => [r.path, r.headers['anthropic-version'], r.headers['anthropic-beta']])).toEqual([
      ['/v1/messages?beta=true', '2023-06-01', 'context-1m-2025-08-07'],
      ['/v1/messages?beta=true', '2026-10-21', 'context-1m-2025-08-07'],
      ['/v1/messages', '2023-06-01', undefined],
    ]);
  });

  it('counts tokens without billing them', async () => {
    const res = await client.messages.countTokens({ model: 'claude-sonnet-4-5', messages: params.messages });
    const upstreamAnswer = await (await fetch(`${upstream.url}/v1/messages/count_tokens`, { method: 'POST', body: upstream.requests[0].body })).json();
    expect(res).toEqual(upstreamAnswer);
    expect(upstream.requests[0].path).toBe('/v1/messages/count_tokens');
    const [record] = await t.waitForRecords(1);
    expect(record.routeKind).toBe('count_tokens');
    expect(record.usage).toBeUndefined();
  });

  it('lists and retrieves models', async () => {
    const page = await client.models.list();
    expect(page.data.length).toBeGreaterThan(0);
    const one = await client.models.retrieve(page.data[0].id);
    expect(one.id).toBe(page.data[0].id);
    expect(upstream.requests.map((r) => r.path.split('?')[0])).toEqual(['/v1/models', `/v1/models/${page.data[0].id}`]);
    const records = await t.waitForRecords(2);
    expect(records.map((r) => r.routeKind)).toEqual(['models', 'models']);
  });

  it('relays upstream errors unchanged, status, headers and body', async () => {
    const body = { type: 'error', error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' }, request_id: 'req_up_429' };
    upstream.once('POST', '/v1/messages', { status: 429, json: body, headers: { 'retry-after': '17', 'request-id': 'req_up_429' } });
    const res = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('17');
    expect(JSON.parse(res.body.toString())).toEqual(body);
    const [record] = await t.waitForRecords(1);
    expect(record.status).toBe(429);
  });

  it('the SDK raises its usual class for relayed errors', async () => {
    upstream.once('POST', '/v1/messages', { status: 529, json: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    const err = await client.messages.create(params).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(529);
    expect((err as APIError).error).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });

  it('forwards endpoints it has never heard of, any method, with their query', async () => {
    upstream.once('PATCH', '/v1/future/thing', { status: 202, body: 'accepted', headers: { 'content-type': 'text/plain', 'x-new-header': 'yes' } });
    const res = await rawRequest(`${t.baseURL}/v1/future/thing?a=1&b=%20x`, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 1, 2, 255]) });
    expect([res.status, res.body.toString(), res.headers['x-new-header']]).toEqual([202, 'accepted', 'yes']);
    expect(upstream.requests[0].path).toBe('/v1/future/thing?a=1&b=%20x');
    expect([...upstream.requests[0].body]).toEqual([0, 1, 2, 255]);
    const [record] = await t.waitForRecords(1);
    expect(record.routeKind).toBe('other');
  });

  it('relays a gzip-compressed response intact and still reads its usage', async () => {
    const fixture = messageJson({ usage: { input_tokens: 300, output_tokens: 40 } });
    upstream.once('POST', '/v1/messages', { json: fixture, gzip: true });
    const res = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' }, body: JSON.stringify(params) });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(res.body).toString())).toEqual(fixture);
    expect(upstream.requests[0].headers['accept-encoding']).toBe('gzip');
    const [record] = await t.waitForRecords(1);
    expect([record.usage?.inputTokens, record.usage?.outputTokens]).toEqual([300, 40]);
  });

  it('drops hop-by-hop headers and the client credentials both ways', async () => {
    upstream.once('GET', '/v1/models', { json: { data: [] }, headers: { 'keep-alive': 'timeout=5', 'x-kept': '1' } });
    const res = await rawRequest(`${t.baseURL}/v1/models`, {
      headers: { authorization: 'Bearer client-secret', 'x-api-key': 'client-secret', connection: 'keep-alive, x-drop-me', 'x-drop-me': '1', 'proxy-authorization': 'p', te: 'trailers', 'x-custom': 'kept' },
    });
    expect(res.status).toBe(200);
    const sent = upstream.requests[0].headers;
    expect(sent['x-api-key']).toBe(UPSTREAM_KEY);
    expect(sent.authorization).toBeUndefined();
    expect(sent['x-drop-me']).toBeUndefined();
    expect(sent['proxy-authorization']).toBeUndefined();
    expect(sent.te).toBeUndefined();
    expect(sent['x-custom']).toBe('kept');
    expect(res.headers['x-kept']).toBe('1');
    expect(res.headers['keep-alive']).not.toBe('timeout=5');
    expect(JSON.stringify(upstream.requests[0].rawHeaders)).not.toContain('client-secret');
  });
});

describe('upstream base URL with a path prefix', () => {
  it('keeps the prefix', async () => {
    const g = await startGateway({ upstream, config: { providers: { anthropic: { baseUrl: `${upstream.url}/proxy/v0` } } } });
    try {
      upstream.once('POST', '/proxy/v0/v1/messages', { json: messageJson() });
      const c = new Anthropic({ apiKey: 'x', baseURL: g.baseURL, maxRetries: 0 });
      await c.messages.create(params);
      expect(upstream.requests[0].path).toBe('/proxy/v0/v1/messages');
    } finally {
      await g.close();
    }
  });
});
