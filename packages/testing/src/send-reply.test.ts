import type { IncomingMessage } from 'node:http';
import { gunzipSync, constants } from 'node:zlib';
import { afterEach, beforeEach, describe, it, expect } from 'vitest';
import { messageStreamEvents } from './anthropic-fixtures.js';
import { createMockUpstream, type MockUpstream } from './mock-upstream.js';
import { rawRequest } from './raw-client.js';
import type { WriteInfo } from './reply.js';
import { ssePieces } from './send-reply.js';
import { serializeSseEvent, serializeSseEvents, type SseEventSpec } from './sse.js';
import { until } from './until.js';

let mock: MockUpstream;

beforeEach(async () => {
  mock = await createMockUpstream();
});

afterEach(async () => {
  await mock.close();
});

const events = messageStreamEvents({ id: 'msg_fixed', model: 'm', text: ['Hel', 'lo ✓'] });
const wire = serializeSseEvents(events);

/** Polls `condition` every few ms until true; throws after `timeoutMs`. */
describe('json and body replies', () => {
  it('sends json with status, default headers and custom headers', async () => {
    mock.route('GET', '/j', { status: 418, headers: { 'X-Custom': 'yes', 'set-cookie': ['a=1', 'b=2'] }, json: { a: [1] } });
    const res = await rawRequest(`${mock.url}/j`);
    expect(res.status).toBe(418);
    expect(res.body.toString()).toBe('{"a":[1]}');
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['content-length']).toBe('9');
    expect(res.headers['x-custom']).toBe('yes');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['anthropic-organization-id']).toBe('org_mock');
    expect(res.headers['request-id']).toMatch(/^req_[0-9a-f]{24}$/);
  });

  it('gzips json', async () => {
    mock.route('GET', '/gz', { json: { zipped: true }, gzip: true });
    const raw = await rawRequest(`${mock.url}/gz`);
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(raw.body).toString()).toBe('{"zipped":true}');
    expect(await (await fetch(`${mock.url}/gz`)).json()).toEqual({ zipped: true });
  });

  it('sends string and Buffer bodies', async () => {
    mock.once('GET', '/b', { body: 'text' });
    mock.once('GET', '/b', { body: Buffer.from([1, 2, 3]), headers: { 'content-type': 'x/y' } });
    const text = await rawRequest(`${mock.url}/b`);
    const bin = await rawRequest(`${mock.url}/b`);
    expect([text.body.toString(), text.headers['content-type']]).toEqual(['text', 'text/plain; charset=utf-8']);
    expect([[...bin.body], bin.headers['content-type']]).toEqual([[1, 2, 3], 'x/y']);
  });

  it('waits delayMs before answering', async () => {
    mock.route('GET', '/slow', { body: 'late', delayMs: 50 });
    const started = performance.now();
    expect((await rawRequest(`${mock.url}/slow`)).body.toString()).toBe('late');
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });
});

describe('sse replies', () => {
  function sseRoute(extra: object): WriteInfo[] {
    const writes: WriteInfo[] = [];
    mock.route('POST', '/v1/messages', { sse: events, onWrite: (w) => writes.push(w), ...extra });
    return writes;
  }

  it("split 'event' writes one event per write", async () => {
    const writes = sseRoute({});
    const res = await rawRequest(`${mock.url}/v1/messages`, { method: 'POST' });
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.body.toString()).toBe(wire);
    expect(writes.map((w) => w.bytes)).toEqual(events.map((e) => Buffer.byteLength(serializeSseEvent(e))));
  });

  it("split 'one-chunk' writes everything at once", async () => {
    const writes = sseRoute({ split: 'one-chunk' });
    const res = await rawRequest(`${mock.url}/v1/messages`, { method: 'POST' });
    expect(res.body.toString()).toBe(wire);
    expect(writes).toEqual([{ bytes: Buffer.byteLength(wire), backpressured: false }]);
  });

  it('split n cuts the stream into n-byte writes across event boundaries', async () => {
    const writes = sseRoute({ split: 7 });
    const res = await rawRequest(`${mock.url}/v1/messages`, { method: 'POST' });
    const total = Buffer.byteLength(wire);
    expect(res.body.toString()).toBe(wire);
    expect(writes.length).toBe(Math.ceil(total / 7));
    expect(writes.slice(0, -1).every((w) => w.bytes === 7)).toBe(true);
    expect(writes.reduce((sum, w) => sum + w.bytes, 0)).toBe(total);
  });

  it('ssePieces rejects a non-positive split', () => {
    expect(() => ssePieces(events, 0)).toThrow('split must be a positive integer, got 0');
  });

  it('eventDelayMs delivers events incrementally', async () => {
    const writes = sseRoute({ eventDelayMs: 30 });
    const writesAtChunk: number[] = [];
    const res = await rawRequest(`${mock.url}/v1/messages`, { method: 'POST', onChunk: () => writesAtChunk.push(writes.length) });
    expect(res.body.toString()).toBe(wire);
    expect(res.chunks.map((c) => c.toString())).toEqual(events.map(serializeSseEvent));
    expect(writesAtChunk[0]).toBe(1); // the first event arrived while the rest were still unsent
  });

  it('gzip streams stay incremental and decode to the exact events', async () => {
    mock.once('POST', '/v1/messages', { sse: events, gzip: true, eventDelayMs: 10 });
    mock.route('POST', '/v1/messages', { sse: events, gzip: true });
    let firstChunkText = '';
    const raw = await rawRequest(`${mock.url}/v1/messages`, {
      method: 'POST',
      onChunk: (chunk, i) => {
        if (i === 0) firstChunkText = gunzipSync(chunk, { finishFlush: constants.Z_SYNC_FLUSH }).toString();
      },
    });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(firstChunkText).toBe(serializeSseEvent(events[0]));
    expect(gunzipSync(raw.body).toString()).toBe(wire);
    expect(await (await fetch(`${mock.url}/v1/messages`, { method: 'POST' })).text()).toBe(wire);
  });

  it('hangUpAfterEvents sends n events then destroys the socket', async () => {
    sseRoute({ hangUpAfterEvents: 2 });
    const res = await rawRequest(`${mock.url}/v1/messages`, { method: 'POST' });
    expect(res.body.toString()).toBe(serializeSseEvents(events.slice(0, 2)));
    expect(res.error?.code).toBe('ECONNRESET');
    expect(mock.requests[0].closedEarly).toBe(false);
  });

  it('waits for drain under backpressure (waitForDrain default)', async () => {
    const big: SseEventSpec[] = Array.from({ length: 128 }, (_, i) => ({ event: 'big', data: `${i}`.padEnd(65536, '.') }));
    const writes: WriteInfo[] = [];
    let pausedRes: IncomingMessage | undefined;
    mock.route('GET', '/big', { sse: big, onWrite: (w) => writes.push(w) });
    const pending = rawRequest(`${mock.url}/big`, { onResponse: (res) => (pausedRes = res.pause()) });
    await until(() => pausedRes !== undefined && writes.some((w) => w.backpressured));
    const writtenWhenBlocked = writes.length;
    expect(writtenWhenBlocked).toBeLessThan(big.length);
    pausedRes!.resume();
    const res = await pending;
    expect(res.body.equals(Buffer.from(serializeSseEvents(big)))).toBe(true);
    expect(writes.length).toBe(big.length);
  });

  it('waitForDrain: false keeps writing while the client does not read', async () => {
    const big: SseEventSpec[] = Array.from({ length: 128 }, (_, i) => ({ event: 'big', data: `${i}`.padEnd(65536, '.') }));
    const writes: WriteInfo[] = [];
    let pausedRes: IncomingMessage | undefined;
    mock.route('GET', '/big', { sse: big, waitForDrain: false, onWrite: (w) => writes.push(w) });
    const pending = rawRequest(`${mock.url}/big`, { onResponse: (res) => (pausedRes = res.pause()) });
    await until(() => pausedRes !== undefined && writes.length === big.length);
    expect(writes.some((w) => w.backpressured)).toBe(true);
    pausedRes!.resume();
    expect((await pending).body.length).toBe(Buffer.byteLength(serializeSseEvents(big)));
  });
});

describe('chunks, hangUp and hang', () => {
  it('writes raw chunks as given', async () => {
    const writes: WriteInfo[] = [];
    mock.route('GET', '/c', { chunks: ['event: a\nda', Buffer.from('ta: 1\n\n')], eventDelayMs: 10, onWrite: (w) => writes.push(w) });
    const res = await rawRequest(`${mock.url}/c`);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.body.toString()).toBe('event: a\ndata: 1\n\n');
    expect(writes.map((w) => w.bytes)).toEqual([11, 7]);
  });

  it('hangUp destroys the socket without a response', async () => {
    mock.route('GET', '/gone', { hangUp: true });
    await expect(rawRequest(`${mock.url}/gone`)).rejects.toMatchObject({ code: 'ECONNRESET', message: 'socket hang up' });
    await expect(fetch(`${mock.url}/gone`)).rejects.toMatchObject({ message: 'fetch failed', cause: { code: 'UND_ERR_SOCKET' } });
    await mock.requests[0].done;
    expect(mock.requests[0].closedEarly).toBe(false);
  });

  it('hang + client abort sets closedEarly', async () => {
    mock.route('POST', '/v1/messages', { hang: true });
    const abort = new AbortController();
    const pending = fetch(`${mock.url}/v1/messages`, { method: 'POST', body: '{}', signal: abort.signal });
    const [req] = await mock.waitForRequests(1);
    expect(req.closedEarly).toBe(false);
    abort.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await req.done;
    expect(req.closedEarly).toBe(true);
  });

  it('client abort during an sse stream sets closedEarly and stops writing', async () => {
    const writes: WriteInfo[] = [];
    mock.route('GET', '/s', { sse: events, eventDelayMs: 20, onWrite: (w) => writes.push(w) });
    const abort = new AbortController();
    const done = rawRequest(`${mock.url}/s`, { signal: abort.signal, onChunk: () => abort.abort() });
    await expect(done).resolves.toMatchObject({ error: { name: 'AbortError' } });
    const [req] = await mock.waitForRequests(1);
    await req.done;
    expect(req.closedEarly).toBe(true);
    expect(writes.length).toBeLessThan(events.length);
  });
});
