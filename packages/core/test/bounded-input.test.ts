import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMockUpstream, rawRequest, type MockUpstream } from '@tollgate/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { definePlugin } from '../src/index.js';
import { startGateway, type TestGateway } from './helpers.js';

const JSON_HEADERS = { 'content-type': 'application/json', 'x-api-key': 'client-key' };

describe('bounded request bodies', () => {
  let upstream: MockUpstream;
  let t: TestGateway;
  beforeAll(async () => {
    upstream = await createMockUpstream();
    t = await startGateway({ upstream });
  });
  afterAll(async () => {
    await t.close();
    await upstream.close();
  });
  afterEach(() => {
    upstream.reset();
    t.records.length = 0;
  });

  async function post(body: string) {
    const res = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: JSON_HEADERS, body });
    return { status: res.status, body: JSON.parse(res.body.toString()) as { type: string; error: { type: string; message: string } } };
  }

  it('refuses JSON nested 100,000 deep (with litellm_metadata) with a 400, not a stack overflow', async () => {
    const deep = `{"model":"claude-sonnet-4-5","litellm_metadata":{"tags":["a"],"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const res = await post(deep);
    expect(res).toEqual({ status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'request body is nested deeper than 256 levels' }, request_id: expect.any(String) } });
    expect(upstream.requests).toHaveLength(0);
  });

  it.each(['model', 'stream', 'metadata', 'litellm_metadata'])('refuses a body that gives %s twice', async (key) => {
    const value = key === 'stream' ? 'false' : key === 'model' ? '"claude-sonnet-4-5"' : '{}';
    const res = await post(`{"${key}":${value},"max_tokens":1,"messages":[],"${key}":${value}}`);
    expect([res.status, res.body.error.message]).toEqual([400, `the request body has the key "${key}" more than once`]);
    expect(upstream.requests).toHaveLength(0);
  });

  it.each([
    ['an end user', { litellm_metadata: { user: 'u'.repeat(257) } }, 'the end user (litellm_metadata.user, the end-user header or metadata.user_id) is longer than 256 characters'],
    ['a metadata.user_id', { metadata: { user_id: 'u'.repeat(257) } }, 'the end user (litellm_metadata.user, the end-user header or metadata.user_id) is longer than 256 characters'],
    ['a tag', { litellm_metadata: { tags: ['ok', 't'.repeat(3000)] } }, 'litellm_metadata.tags.1 is longer than 256 characters'],
    ['65 tags', { litellm_metadata: { tags: Array.from({ length: 65 }, (_, i) => `t${i}`) } }, 'litellm_metadata.tags has 65 tags; at most 64 are allowed'],
  ])('refuses %s past its bound with a clear 400', async (_what, extra, message) => {
    const res = await post(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1, messages: [], ...extra }));
    expect([res.status, res.body.error]).toEqual([400, { type: 'invalid_request_error', message }]);
    expect(upstream.requests).toHaveLength(0);
  });

  it('accepts what sits exactly at the bounds', async () => {
    const body = { model: 'claude-sonnet-4-5', max_tokens: 1, messages: [], litellm_metadata: { user: 'u'.repeat(256), tags: Array.from({ length: 64 }, () => 't'.repeat(256)) } };
    const res = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    const [rec] = await t.waitForRecords(1);
    expect([rec!.endUser, rec!.tags.length]).toEqual(['u'.repeat(256), 64]);
  });

  it('reads usage from the members of a large relayed message, without holding it back', async () => {
    const big = { id: 'msg_big', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'y'.repeat(3 * 1024 * 1024) }], usage: { input_tokens: 11, output_tokens: 22 } };
    upstream.once('POST', '/v1/messages', { json: big });
    const res = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1, messages: [] }) });
    expect(res.body.equals(Buffer.from(JSON.stringify(big)))).toBe(true);
    const [rec] = await t.waitForRecords(1);
    expect([rec!.usage?.inputTokens, rec!.usage?.outputTokens, rec!.response]).toEqual([11, 22, { id: 'msg_big', model: 'claude-sonnet-4-5' }]);
  });

  it('forwards the body byte for byte but for the litellm_metadata member', async () => {
    const sent = '{ "model" : "claude-sonnet-4-5",\n "litellm_metadata": {"user":"eve","tags":["a"]},\n "max_tokens": 1.0, "messages":[{"role":"user","content":"h\\u00e9"}] }';
    const res = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: JSON_HEADERS, body: sent });
    expect(res.status).toBe(200);
    expect(upstream.requests[0]!.body.toString()).toBe('{ "model" : "claude-sonnet-4-5",\n "max_tokens": 1.0, "messages":[{"role":"user","content":"h\\u00e9"}] }');
    const [rec] = await t.waitForRecords(1);
    expect([rec!.endUser, rec!.tags, rec!.model]).toEqual(['eve', ['a'], 'claude-sonnet-4-5']);
  });

  it.each([
    ['with its length declared (read into one buffer as it arrives)', true],
    ['chunked, no length declared', false],
  ])('forwards a large body sent in many pieces byte for byte, %s', async (_how, declared) => {
    const text = 'a 300 KB turn é ✓ '.repeat(18_000);
    const body = Buffer.from(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1, messages: [{ role: 'user', content: text }] }));
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${t.baseURL}/v1/messages`);
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...JSON_HEADERS, ...(declared ? { 'content-length': body.length } : {}) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      // Pieces of 7,001 bytes, a turn of the event loop apart: many reads, cut inside characters.
      const send = (at: number): void => {
        if (at >= body.length) return void req.end();
        req.write(body.subarray(at, at + 7001));
        setImmediate(() => send(at + 7001));
      };
      send(0);
    });
    expect(status).toBe(200);
    const received = upstream.requests[0]!.body;
    expect(received.length).toBe(body.length);
    expect(createHash('sha256').update(received).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });
});

describe('the gateway-wide cap on body bytes being read', () => {
  it('answers 503 overloaded_error to a request that would pass it, and reads again once the first is done', async () => {
    const upstream = await createMockUpstream();
    const t = await startGateway({ upstream, config: { server: { bodyReadLimit: 100_000 } } });
    try {
      const { port } = new URL(t.url);
      // A slow sender: 60 KB declared, 1 KB sent, the rest held back.
      const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1, messages: [{ role: 'user', content: 'x'.repeat(60_000) }] });
      let slowStatus = 0;
      const slow = request({ host: '127.0.0.1', port, method: 'POST', path: '/anthropic/v1/messages', headers: { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) } }, (res) => {
        slowStatus = res.statusCode!;
        res.resume();
      });
      const slowDone = new Promise((resolve) => slow.on('close', resolve));
      slow.write(body.slice(0, 1000));
      // Until the slow request's headers are in, its reservation may not exist yet: retry.
      let second = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: JSON_HEADERS, body });
      for (let i = 0; second.status === 200 && i < 50; i++) second = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: JSON_HEADERS, body });
      expect(second.status).toBe(503);
      expect(second.headers['retry-after']).toBe('1');
      expect(JSON.parse(second.body.toString()).error).toEqual({ type: 'overloaded_error', message: 'the gateway is reading 100000 bytes of request bodies at once already (server.bodyReadLimit); try again shortly' });
      slow.end(body.slice(1000));
      await slowDone;
      expect(slowStatus).toBe(200);
      const after = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: JSON_HEADERS, body });
      expect(after.status).toBe(200);
    } finally {
      await t.close();
      await upstream.close();
    }
  });
});

/** An upstream that hashes what it receives as it arrives, never holding it. */
async function hashingUpstream(): Promise<{ server: Server; url: string; received: () => number; digest: Promise<string>; gate: { paused: boolean; resume: () => void } }> {
  let received = 0;
  let resolveDigest!: (d: string) => void;
  const digest = new Promise<string>((r) => (resolveDigest = r));
  let current: IncomingMessage | undefined;
  const gate = {
    paused: true,
    resume() {
      gate.paused = false;
      current?.resume();
    },
  };
  const server = createServer((req, res) => {
    current = req;
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => {
      received += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      resolveDigest(hash.digest('hex'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'file_1', type: 'file', size_bytes: received }));
    });
    if (gate.paused) req.pause();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received: () => received, digest, gate };
}

describe('uploads the gateway does not read', () => {
  it('streams a multipart body larger than bodyLimit to the upstream intact, with backpressure, and records it', async () => {
    const up = await hashingUpstream();
    const t = await startGateway({ upstream: up, config: { server: { bodyLimit: 1024 * 1024 } } });
    try {
      const size = 48 * 1024 * 1024;
      const sentHash = createHash('sha256');
      let written = 0;
      const { port } = new URL(t.url);
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/anthropic/v1/files', headers: { 'x-api-key': 'k', 'content-type': 'multipart/form-data; boundary=xyz', 'content-length': size } });
      const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
        req.on('response', (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
      });
      let n = 0;
      const pump = () => {
        while (written < size) {
          const chunk = createHash('sha512').update(String(n++)).digest();
          const block = Buffer.alloc(Math.min(64 * 1024, size - written), chunk);
          sentHash.update(block);
          written += block.length;
          if (!req.write(block)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
      // The upstream reads nothing yet: the client must stall with most of the body unsent,
      // which it can only do if the gateway forwards with backpressure instead of buffering.
      const stalledAt = await waitForStall(() => written);
      expect(stalledAt).toBeLessThan(24 * 1024 * 1024);
      expect(up.received()).toBeLessThan(1024 * 1024);
      up.gate.resume();
      const res = await response;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ id: 'file_1', type: 'file', size_bytes: size });
      expect(await up.digest).toBe(sentHash.digest('hex'));
      const [rec] = await t.waitForRecords(1);
      expect([rec!.status, rec!.routeKind, rec!.path]).toEqual([200, 'other', '/anthropic/v1/files']);
    } finally {
      await t.close();
      up.server.closeAllConnections();
      await new Promise((r) => up.server.close(r));
    }
  });

  it('refuses an upload declared larger than uploadLimit with a 413, forwarding nothing', async () => {
    const upstream = await createMockUpstream();
    const t = await startGateway({ upstream, config: { server: { uploadLimit: 1000 } } });
    try {
      const res = await rawRequest(`${t.baseURL}/v1/files`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-api-key': 'k' }, body: Buffer.alloc(1001) });
      expect([res.status, JSON.parse(res.body.toString()).error]).toEqual([413, { type: 'request_too_large', message: 'request body is larger than 1000 bytes' }]);
      expect(upstream.requests).toHaveLength(0);
    } finally {
      await t.close();
      await upstream.close();
    }
  });
});

describe('held-back responses', () => {
  it('are not held back when no plugin asks on that request, even with an onResponseBody hook loaded', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"msg_1","type":"message","model":"claude-sonnet-4-5",');
      void released.then(() => res.end('"usage":{"input_tokens":3,"output_tokens":4}}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const bodies: unknown[] = [];
    const asks = new Set<string>();
    const watcher = definePlugin({
      name: 'watcher',
      priority: 100,
      setup: () => ({
        onRequest: (ctx) => {
          if (ctx.request.headers['x-hold'] === '1') ctx.holdResponseBody();
          asks.add(String(ctx.request.headers['x-hold']));
        },
        onResponseBody: (_ctx, _head, body) => void bodies.push(body),
      }),
    });
    const t = await startGateway({ upstream: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, plugins: [watcher] });
    try {
      const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1, messages: [] });
      // Not asked: the client gets the headers while the upstream is still sending the body.
      const res = await fetch(`${t.baseURL}/v1/messages`, { method: 'POST', headers: { ...JSON_HEADERS, 'x-hold': '0' }, body });
      expect(res.status).toBe(200);
      release();
      expect(await res.json()).toEqual({ id: 'msg_1', type: 'message', model: 'claude-sonnet-4-5', usage: { input_tokens: 3, output_tokens: 4 } });
      const [rec] = await t.waitForRecords(1);
      expect([rec!.usage?.inputTokens, rec!.usage?.outputTokens]).toEqual([3, 4]);
      expect(bodies).toEqual([]);
      // Asked: held back whole and handed to the hook.
      const held = await fetch(`${t.baseURL}/v1/messages`, { method: 'POST', headers: { ...JSON_HEADERS, 'x-hold': '1' }, body });
      expect(await held.json()).toEqual({ id: 'msg_1', type: 'message', model: 'claude-sonnet-4-5', usage: { input_tokens: 3, output_tokens: 4 } });
      expect(bodies).toHaveLength(1);
      expect([...asks]).toEqual(['0', '1']);
    } finally {
      await t.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

/** Resolves with the value once it has stopped changing for `quietMs`. */
async function waitForStall(read: () => number, quietMs = 300, deadlineMs = 20_000): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const now = read();
    if (now !== last) [last, since] = [now, Date.now()];
    else if (now > 0 && Date.now() - since >= quietMs) return now;
  }
  throw new Error(`value kept changing until the deadline: ${last}`);
}
