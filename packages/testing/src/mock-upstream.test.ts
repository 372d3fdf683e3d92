import { afterEach, beforeEach, describe, it, expect } from 'vitest';
import { createMockUpstream, type MockUpstream } from './mock-upstream.js';
import { rawRequest } from './raw-client.js';

let mock: MockUpstream;

beforeEach(async () => {
  mock = await createMockUpstream();
});

afterEach(async () => {
  await mock.close();
});

describe('createMockUpstream', () => {
  it('listens on 127.0.0.1 with an ephemeral port', () => {
    expect(mock.port).toBeGreaterThan(0);
    expect(mock.url).toBe(`http://127.0.0.1:${mock.port}`);
  });

  it('records method, path with query, headers and body', async () => {
    mock.route('POST', '/v1/echo', { json: { ok: true } });
    const res = await fetch(`${mock.url}/v1/echo?beta=true&x=1`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-test', 'content-type': 'application/json', 'anthropic-beta': 'a,b' },
      body: '{"model":"m"}',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    const [req] = mock.requests;
    expect(mock.requests.length).toBe(1);
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/echo?beta=true&x=1');
    expect(req.headers['x-api-key']).toBe('sk-test');
    expect(req.headers['anthropic-beta']).toBe('a,b');
    expect(req.rawHeaders).toContain('anthropic-beta');
    expect(req.body.toString()).toBe('{"model":"m"}');
    expect(req.json()).toEqual({ model: 'm' });
    await req.done;
    expect(req.closedEarly).toBe(false);
  });

  it('json() is undefined for an empty or non-JSON body', async () => {
    mock.route('*', '/x', { body: 'ok' });
    await fetch(`${mock.url}/x`);
    await fetch(`${mock.url}/x`, { method: 'POST', body: 'nope{' });
    expect(mock.requests.map((r) => r.json())).toEqual([undefined, undefined]);
    expect(mock.requests.map((r) => r.body.toString())).toEqual(['', 'nope{']);
  });

  it('checks one-shot routes FIFO before persistent ones, newest persistent route winning', async () => {
    mock.route('GET', '/r', { body: 'old' });
    mock.route('get', /^\/r$/, { body: 'persistent' });
    mock.once('GET', '/r', { body: 'first' });
    mock.once('GET', '/r', { body: 'second' });
    const texts: string[] = [];
    for (let i = 0; i < 4; i++) texts.push(await (await fetch(`${mock.url}/r?q=${i}`)).text());
    expect(texts).toEqual(['first', 'second', 'persistent', 'persistent']);
  });

  it('matches method and pathname (query excluded)', async () => {
    mock.route('POST', '/only-post', { body: 'yes' });
    expect((await fetch(`${mock.url}/only-post`)).status).toBe(404);
    expect(await (await fetch(`${mock.url}/only-post?a=1`, { method: 'POST' })).text()).toBe('yes');
  });

  it('passes the recorded request to reply functions', async () => {
    mock.route('POST', '/fn', async (req) => ({ status: 201, json: { got: req.json() } }));
    const res = await fetch(`${mock.url}/fn`, { method: 'POST', body: '[1,2]' });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ got: [1, 2] });
  });

  it('answers 500 api_error when a reply function throws', async () => {
    mock.route('GET', '/boom', () => {
      throw new Error('nope');
    });
    const res = await fetch(`${mock.url}/boom`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'mock upstream reply failed: nope' },
    });
  });

  it('supports raw handlers', async () => {
    mock.route('PUT', '/raw', {
      handler: (_req, res, recorded) => {
        res.writeHead(202, { 'x-len': String(recorded.body.length) }).end('handled');
      },
    });
    const res = await fetch(`${mock.url}/raw`, { method: 'PUT', body: 'abc' });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-len')).toBe('3');
    expect(await res.text()).toBe('handled');
  });

  it('waitForRequests resolves with the requests once enough arrived', async () => {
    const waiting = mock.waitForRequests(2);
    await fetch(`${mock.url}/a`);
    await fetch(`${mock.url}/b`);
    expect((await waiting).map((r) => r.path)).toEqual(['/a', '/b']);
  });

  it('waitForRequests rejects on timeout', async () => {
    await expect(mock.waitForRequests(1, 20)).rejects.toThrow('waitForRequests: expected 1 request(s), got 0 within 20ms');
  });

  it('reset forgets requests and routes', async () => {
    mock.route('GET', '/r', { body: 'scripted' });
    await fetch(`${mock.url}/r`);
    mock.reset();
    expect(mock.requests).toEqual([]);
    expect((await fetch(`${mock.url}/r`)).status).toBe(404);
  });

  it('close() ends hanging requests and is idempotent', async () => {
    mock.route('GET', '/hang', { hang: true });
    const pending = rawRequest(`${mock.url}/hang`);
    const [req] = await mock.waitForRequests(1);
    await mock.close();
    await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET', message: 'socket hang up' });
    await req.done;
    expect(req.closedEarly).toBe(false);
    await mock.close();
    await expect(fetch(`${mock.url}/`)).rejects.toThrow('fetch failed');
  });
});

describe('options', () => {
  it('record: false records nothing', async () => {
    const quiet = await createMockUpstream({ record: false });
    try {
      const res = await fetch(`${quiet.url}/v1/models`);
      expect(res.status).toBe(200);
      expect(quiet.requests).toEqual([]);
    } finally {
      await quiet.close();
    }
  });

  it('apiKey rejects requests with a different x-api-key with 401', async () => {
    const guarded = await createMockUpstream({ apiKey: 'sk-good' });
    try {
      guarded.route('GET', '/v1/models', { json: { scripted: true } });
      const bad = await fetch(`${guarded.url}/v1/models`, { headers: { 'x-api-key': 'sk-bad' } });
      expect(bad.status).toBe(401);
      expect(await bad.json()).toEqual({
        type: 'error',
        error: { type: 'authentication_error', message: 'invalid x-api-key' },
      });
      expect((await fetch(`${guarded.url}/v1/models`)).status).toBe(401);
      const good = await fetch(`${guarded.url}/v1/models`, { headers: { 'x-api-key': 'sk-good' } });
      expect(await good.json()).toEqual({ scripted: true });
      expect(guarded.requests.length).toBe(3);
    } finally {
      await guarded.close();
    }
  });
});
