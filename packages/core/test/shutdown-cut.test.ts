import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMockUpstream, messageStreamEvents, parseSseEvents, rawRequest, serializeSseEvents, type MockUpstream } from '@tollgate/testing';
import { closeReserveMs, definePlugin, type CloseContext } from '../src/index.js';
import { startGateway } from './helpers.js';

let upstream: MockUpstream;
beforeAll(async () => {
  upstream = await createMockUpstream();
});
afterAll(() => upstream.close());
afterEach(() => upstream.reset());

const post = (url: string, stream: boolean, onChunk?: (chunk: Buffer, i: number) => unknown) =>
  rawRequest(`${url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, stream, messages: [{ role: 'user', content: 'x' }] }),
    onChunk,
  });

const SHUTDOWN_ERROR = { type: 'error', error: { type: 'overloaded_error', message: 'the gateway shut down before this response was complete' } };

describe('requests cut at shutdown', () => {
  it('a stream gets an SSE error event after what was relayed, not a TCP reset', async () => {
    const t = await startGateway({ upstream });
    const events = messageStreamEvents({ text: ['one', 'two', 'three', 'four', 'five', 'six'] });
    // The first events at once, the rest long after the grace: the cut falls between them.
    upstream.once('POST', '/v1/messages', { sse: events, eventDelayMs: 60_000 });
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    const streaming = post(t.url, true, (_c, i) => i === 0 && first());
    await gotFirst;
    await t.gw.close({ graceMs: 50 });
    const res = await streaming;
    expect(res.error).toBeUndefined();
    expect(res.status).toBe(200);
    const text = res.body.toString();
    expect(text.startsWith(serializeSseEvents(events.slice(0, 1)))).toBe(true);
    const got = parseSseEvents(text);
    expect(got.at(-1)).toEqual({ event: 'error', data: SHUTDOWN_ERROR });
    expect(got.slice(0, -1)).toEqual(events.slice(0, got.length - 1));
    const [record] = await t.waitForRecords(1);
    expect(record.aborted).toBe(true);
  });

  it('a request still waiting for the upstream gets a 503 in the Anthropic shape', async () => {
    const t = await startGateway({ upstream });
    upstream.once('POST', '/v1/messages', { hang: true });
    const pending = post(t.url, false);
    await upstream.waitForRequests(1);
    await t.gw.close({ graceMs: 50 });
    const res = await pending;
    const [record] = await t.waitForRecords(1);
    expect([res.status, res.headers.connection, JSON.parse(res.body.toString())]).toEqual([503, 'close', { ...SHUTDOWN_ERROR, request_id: record.id }]);
    expect(record.aborted).toBe(true);
  });

  it('a response-headers hook still running at the cut does not write after the 503', async () => {
    // The hook finishes only once the shutdown's 503 is out: then the call must not try to
    // send the upstream's headers (that throw would be an unhandled rejection).
    const slow = definePlugin({
      name: 'slow-headers',
      priority: 100,
      setup: () => ({ onResponseHeaders: (ctx) => new Promise<void>((resolve) => ctx.raw.res.once('finish', () => setImmediate(resolve))) }),
    });
    const escaped: unknown[] = [];
    const onEscape = (err: unknown) => void escaped.push(err);
    process.on('unhandledRejection', onEscape);
    try {
      const t = await startGateway({ upstream, plugins: [slow] });
      const pending = post(t.url, false);
      await upstream.waitForRequests(1);
      await t.gw.close({ graceMs: 50 });
      const res = await pending;
      const [record] = await t.waitForRecords(1);
      expect([res.status, JSON.parse(res.body.toString())]).toEqual([503, { ...SHUTDOWN_ERROR, request_id: record.id }]);
      await new Promise((r) => setImmediate(r));
      expect(escaped).toEqual([]);
    } finally {
      process.off('unhandledRejection', onEscape);
    }
  });

  it('the cut comes closeReserveMs before the end of the grace, leaving the plugins the rest, with the end as their deadline', async () => {
    const graceMs = 2000;
    let closeCalled: { c: CloseContext; at: number; aborted: boolean } | undefined;
    let abortedAt = 0;
    const closer = definePlugin({
      name: 'closer',
      priority: 100,
      setup: (api) =>
        api.onClose(async (c) => {
          closeCalled = { c, at: Date.now(), aborted: c.signal.aborted };
          await new Promise((r) => c.signal.addEventListener('abort', r));
          abortedAt = Date.now();
        }),
    });
    const t = await startGateway({ upstream, plugins: [closer] });
    upstream.once('POST', '/v1/messages', { hang: true });
    const pending = post(t.url, false);
    await upstream.waitForRequests(1);
    const before = Date.now();
    const closing = t.gw.close({ graceMs });
    const after = Date.now();
    const [record] = await t.waitForRecords(1);
    const cutSeenAt = Date.now();
    await closing;
    const res = await pending;
    expect([record.aborted, res.status]).toEqual([true, 503]);
    const { deadline } = closeCalled!.c;
    expect(deadline).toBeGreaterThanOrEqual(before + graceMs);
    expect(deadline).toBeLessThanOrEqual(after + graceMs);
    expect(cutSeenAt).toBeGreaterThanOrEqual(deadline - closeReserveMs(graceMs));
    // The plugins were called with time left (500 ms here), and the signal aborted at the end.
    expect([closeCalled!.at < deadline, closeCalled!.aborted]).toEqual([true, false]);
    expect(abortedAt).toBeGreaterThanOrEqual(deadline);
  });
});
