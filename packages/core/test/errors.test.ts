import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { createMockUpstream, rawRequest, type MockUpstream } from '@tollgate/testing';
import { startGateway, UPSTREAM_KEY, type TestGateway } from './helpers.js';

let upstream: MockUpstream;
let t: TestGateway;

beforeAll(async () => {
  upstream = await createMockUpstream();
  t = await startGateway({ upstream, config: { server: { bodyLimit: 1024 }, providers: { anthropic: { timeoutMs: 300 } } } });
});
afterAll(async () => {
  await t.close();
  await upstream.close();
});
afterEach(() => {
  upstream.reset();
  t.records.length = 0;
});

const json = { 'content-type': 'application/json', 'x-api-key': 'client-key' };
const params = { model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] };

function rawPath(path: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { 'x-api-key': 'k' }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function post(path: string, body: string | Buffer, headers: Record<string, string> = json) {
  const res = await rawRequest(`${t.url}${path}`, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, body: JSON.parse(res.body.toString()) as { type: string; error: { type: string; message: string } } };
}

describe('errors the gateway produces', () => {
  it.each([
    ['not JSON', 'hello'],
    ['truncated JSON', '{"model":'],
    ['an empty body', ''],
    ['a JSON array', '[1,2]'],
  ])('rejects %s on a JSON endpoint with a 400 and forwards nothing', async (_name, body) => {
    const res = await post('/anthropic/v1/messages', body);
    expect(res.status).toBe(400);
    expect(res.body.type).toBe('error');
    expect(res.body.error.type).toBe('invalid_request_error');
    expect(upstream.requests).toHaveLength(0);
    const [record] = await t.waitForRecords(1);
    expect(record.status).toBe(400);
    expect(record.error?.code).toMatch(/^TG_ERR_INVALID_JSON$/);
  });

  it('the SDK raises BadRequestError for a non-JSON body', async () => {
    const client = new Anthropic({ apiKey: 'k', baseURL: t.baseURL, maxRetries: 0 });
    const err = await client.post('/v1/messages/count_tokens', { body: 'x'.repeat(10) as unknown as object, headers: { 'content-type': 'application/json' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
  });

  it('answers 413 request_too_large over the body limit, forwarding nothing', async () => {
    const res = await post('/anthropic/v1/messages', JSON.stringify({ ...params, pad: 'x'.repeat(2000) }));
    expect(res.status).toBe(413);
    expect(res.body.error).toEqual({ type: 'request_too_large', message: 'request body is larger than 1024 bytes' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('enforces the limit on chunked bodies too', async () => {
    const res = await post('/anthropic/v1/messages', Buffer.alloc(5000, 'a'), { ...json, 'transfer-encoding': 'chunked' });
    expect(res.status).toBe(413);
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const)('reads a %s request body: plugins see it decoded, and the upstream gets it without content-encoding', async (coding, compress) => {
    const body = { ...params, litellm_metadata: { user: 'zipped-user', tags: ['zipped'] } };
    const res = await post('/anthropic/v1/messages', compress(JSON.stringify(body)), { ...json, 'content-encoding': coding });
    expect(res.status).toBe(200);
    expect(upstream.requests[0]!.headers['content-encoding']).toBeUndefined();
    expect(upstream.requests[0]!.json()).toEqual(params);
    const [record] = await t.waitForRecords(1);
    expect([record.endUser, record.tags]).toEqual(['zipped-user', ['zipped']]);
  });

  it('refuses a content-encoding it cannot decode (415) and a body that is not what its encoding says (400), forwarding nothing', async () => {
    const zstd = await post('/anthropic/v1/messages', JSON.stringify(params), { ...json, 'content-encoding': 'zstd' });
    expect([zstd.status, zstd.body.error]).toEqual([415, { type: 'invalid_request_error', message: 'request content-encoding zstd is not supported (gzip, deflate or br)' }]);
    const garbled = await post('/anthropic/v1/messages', JSON.stringify(params), { ...json, 'content-encoding': 'gzip' });
    expect([garbled.status, garbled.body.error]).toEqual([400, { type: 'invalid_request_error', message: 'the request body is not valid gzip data' }]);
    expect(upstream.requests).toHaveLength(0);
  });

  it('answers 413 for a small compressed body that decodes past the body limit', async () => {
    const bomb = gzipSync(Buffer.alloc(1_000_000, ' '));
    expect(bomb.length).toBeLessThan(1024);
    const res = await post('/anthropic/v1/messages', bomb, { ...json, 'content-encoding': 'gzip' });
    expect([res.status, res.body.error]).toEqual([413, { type: 'request_too_large', message: 'request body is larger than 1024 bytes once decoded' }]);
    expect(upstream.requests).toHaveLength(0);
  });

  it('answers headers past the parser limit with 431 in the Anthropic error shape', async () => {
    const { port } = new URL(t.url);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/anthropic/v1/models', headers: { 'x-api-key': 'k', 'x-padding': 'a'.repeat(20_000) }, agent: false }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body)).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'the request headers are too large' } });
    expect(upstream.requests).toHaveLength(0);
  });

  it('answers 504 timeout_error when the upstream does not answer in time', async () => {
    upstream.once('POST', '/v1/messages', { hang: true });
    const client = new Anthropic({ apiKey: 'k', baseURL: t.baseURL, maxRetries: 0 });
    const err = await client.messages.create(params as Anthropic.MessageCreateParamsNonStreaming).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(504);
    expect((err as APIError).error).toMatchObject({ type: 'error', error: { type: 'timeout_error', message: 'the upstream did not answer in time' } });
    const [record] = await t.waitForRecords(1);
    expect(record.error?.code).toBe('TG_ERR_UPSTREAM_TIMEOUT');
  });

  it('answers 502 api_error when the upstream hangs up without answering', async () => {
    upstream.once('POST', '/v1/messages', { hangUp: true });
    const res = await post('/anthropic/v1/messages', JSON.stringify(params));
    expect(res.status).toBe(502);
    expect(res.body.error.type).toBe('api_error');
  });

  it.each([
    '/anthropic/../key/generate',
    '/anthropic/v1/../../health/liveliness',
    '/anthropic/%2e%2e/key/generate',
    '/anthropic/%2E%2E%2Fkey/generate',
    '/anthropic//evil.example/v1/messages',
    '/anthropic/v1/..%5c..%5cadmin',
  ])('refuses the path trick %s without forwarding', async (path) => {
    // A WHATWG URL would normalise the dot segments away before sending: send the path as is.
    const res = await rawPath(path);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toEqual({ type: 'invalid_request_error', message: 'invalid request path' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('keeps @host tricks on the upstream host', async () => {
    const res = await rawRequest(`${t.url}/anthropic/@evil.example/v1/models`, { headers: { 'x-api-key': 'k' } });
    expect(res.status).toBe(404);
    expect(upstream.requests.map((r) => [r.path, r.headers.host])).toEqual([['/@evil.example/v1/models', `127.0.0.1:${upstream.port}`]]);
  });

  it('answers 404 in Anthropic shape for unknown gateway routes, and /anthropic alone', async () => {
    for (const path of ['/nope', '/anthropic', '/anthropicx/v1/messages']) {
      const res = await rawRequest(`${t.url}${path}`);
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body.toString())).toEqual({ type: 'error', error: { type: 'not_found_error', message: `no route for GET ${path}` } });
    }
  });

  it('serves health without a key', async () => {
    const live = await rawRequest(`${t.url}/health/liveliness`);
    expect([live.status, JSON.parse(live.body.toString())]).toEqual([200, { status: 'ok' }]);
    const ready = await rawRequest(`${t.url}/health/readiness`);
    expect([ready.status, JSON.parse(ready.body.toString())]).toEqual([200, { status: 'ready', checks: {} }]);
    const wrongMethod = await rawRequest(`${t.url}/health/liveliness`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
  });

  it('never writes the upstream key or a client key into logs or error bodies', async () => {
    upstream.once('POST', '/v1/messages', { hangUp: true });
    const res = await rawRequest(`${t.url}/anthropic/v1/messages`, { method: 'POST', headers: { ...json, 'x-api-key': 'sk-client-very-secret' }, body: JSON.stringify(params) });
    await rawRequest(`${t.url}/anthropic/v1/messages`, { method: 'POST', headers: { ...json, authorization: 'Bearer sk-client-very-secret' }, body: 'nope' });
    await t.waitForRecords(2);
    const everything = t.logs.join('') + res.body.toString();
    expect(everything).not.toContain(UPSTREAM_KEY);
    expect(everything).not.toContain('sk-client-very-secret');
  });
});

describe('an unreachable upstream', () => {
  it('answers 502 api_error', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const dead = { url: `http://127.0.0.1:${port}` } as MockUpstream;
    const g = await startGateway({ upstream: dead });
    try {
      const client = new Anthropic({ apiKey: 'k', baseURL: g.baseURL, maxRetries: 0 });
      const err = await client.messages.create(params as Anthropic.MessageCreateParamsNonStreaming).catch((e: unknown) => e);
      expect((err as APIError).status).toBe(502);
      expect((err as APIError).error).toMatchObject({ error: { type: 'api_error', message: 'the upstream is unreachable' } });
    } finally {
      await g.close();
    }
  });
});
