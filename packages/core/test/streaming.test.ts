import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import {
  createMockUpstream,
  errorEvent,
  messageStreamEvents,
  parseSseEvents,
  rawRequest,
  serializeSseEvents,
  type MockUpstream,
  type RawRequestOptions,
  type SseEventSpec,
} from '@tollgate/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definePlugin } from '../src/index.js';
import { startGateway, type TestGateway } from './helpers.js';

const MODEL = 'claude-haiku-4-5-20251001';
const PARAMS = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hi' }] };
/** Non-trivial usage so every normalized field is checked. */
const USAGE = {
  input_tokens: 42,
  cache_creation_input_tokens: 5,
  cache_read_input_tokens: 9,
  cache_creation: { ephemeral_5m_input_tokens: 3, ephemeral_1h_input_tokens: 2 },
  output_tokens: 7,
};

/** The record's usage for a stream whose last usage-bearing event said `outputTokens`. */
function recordUsage(outputTokens: number) {
  return {
    inputTokens: 42,
    outputTokens,
    cacheReadTokens: 9,
    cacheWriteTokens: 5,
    cacheWrite5mTokens: 3,
    cacheWrite1hTokens: 2,
    webSearchRequests: 0,
    serviceTier: 'standard',
    raw: { ...USAGE, output_tokens: outputTokens, service_tier: 'standard' },
  };
}

const streamEvents = (text: string | string[]): SseEventSpec[] => messageStreamEvents({ model: MODEL, text, usage: USAGE });

/** Polls `read` until it has not changed for `quietMs`; rejects at the deadline. */
async function waitForStall(read: () => number, quietMs = 200, deadlineMs = 10_000): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const now = read();
    if (now !== last) [last, since] = [now, Date.now()];
    else if (now > 0 && Date.now() - since >= quietMs) return now;
  }
  throw new Error(`value kept changing (or stayed 0) until the deadline: ${last}`);
}

/** Resolves with `promise`, or rejects once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

let mock: MockUpstream;
let tg: TestGateway;
let client: Anthropic;
/** The gateway's response object of the latest request, to look at what it buffers. */
let gatewayRes: ServerResponse | undefined;
const probe = definePlugin({ name: 'probe', priority: 100, setup: () => ({ onResponseHeaders: (ctx) => void (gatewayRes = ctx.raw.res) }) });

beforeEach(async () => {
  mock = await createMockUpstream();
  tg = await startGateway({ upstream: mock, plugins: [probe] });
  client = new Anthropic({ apiKey: 'client-key', baseURL: tg.baseURL, maxRetries: 0 });
});

afterEach(async () => {
  await tg?.close();
  await mock?.close();
});

function postStream(opts: Omit<RawRequestOptions, 'method' | 'body'> & { body?: unknown } = {}) {
  const { headers, body, ...rest } = opts;
  return rawRequest(`${tg.baseURL}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'client-key', 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify(body ?? { ...PARAMS, stream: true }),
    ...rest,
  });
}

describe('streaming through the gateway', () => {
  it('delivers events incrementally to the SDK and records exact usage', async () => {
    const events = streamEvents(['Hello', ' there']);
    let mockWrites = 0;
    mock.route('POST', '/v1/messages', { sse: events, eventDelayMs: 100, onWrite: () => mockWrites++ });

    const stream = client.messages.stream(PARAMS);
    let writesAtFirstDelta = -1;
    const received: string[] = [];
    for await (const ev of stream) {
      received.push(ev.type);
      if (ev.type === 'content_block_delta' && writesAtFirstDelta < 0) writesAtFirstDelta = mockWrites;
    }
    const message = await stream.finalMessage();

    // The first delta is the 4th event: the client had it while the mock still held 4 events back.
    expect(writesAtFirstDelta).toBe(4);
    expect(mockWrites).toBe(events.length);
    expect(received).toEqual(events.map((e) => e.event).filter((name) => name !== 'ping')); // the SDK drops pings
    const start = (events[0].data as { message: Record<string, unknown> }).message;
    expect(message).toEqual({
      ...start,
      content: [{ type: 'text', text: 'Hello there' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { ...(start.usage as object), output_tokens: 7 },
      parsed_output: null, // added by the SDK's accumulator
    });

    const [rec] = await tg.waitForRecords(1);
    expect(rec).toMatchObject({ status: 200, stream: true, routeKind: 'messages', model: PARAMS.model, aborted: false });
    expect(rec.error).toBeUndefined();
    expect(rec.usage).toEqual(recordUsage(7));
    // message_start, content_block_start and ping came first, 100 ms apart.
    expect(rec.timings.firstTokenMs).toBeGreaterThanOrEqual(250);
    expect(rec.timings.firstTokenMs).toBeLessThan(rec.timings.durationMs);
  });

  it.each([
    ['one event split across 5-byte chunks', 5],
    ['many events in one chunk', 'one-chunk'],
  ] as const)('relays %s byte for byte', async (_name, split) => {
    const events = streamEvents(['Grüße ', 'aus ', 'Köln 🌍', ' — ok']); // multi-byte UTF-8 cut by 5-byte writes
    const wire = Buffer.from(serializeSseEvents(events));
    let mockWrites = 0;
    mock.route('POST', '/v1/messages', { sse: events, split, onWrite: () => mockWrites++ });

    const res = await postStream();

    expect(mockWrites).toBe(split === 5 ? Math.ceil(wire.length / 5) : 1);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.error).toBeUndefined();
    expect(res.body.equals(wire)).toBe(true);
    const [rec] = await tg.waitForRecords(1);
    expect(rec.usage).toEqual(recordUsage(7));
    expect(rec.timings.firstTokenMs).toBeTypeOf('number');
  });

  it('relays an error event mid-stream unchanged and records it with partial usage', async () => {
    const events = [...streamEvents(['Hello', ' there']).slice(0, 4), errorEvent('overloaded_error', 'Overloaded')];
    mock.route('POST', '/v1/messages', { sse: events });

    const res = await postStream();
    expect(res.body.toString()).toBe(serializeSseEvents(events));
    expect(res.error).toBeUndefined();

    const texts: string[] = [];
    const failure = await (async () => {
      const stream = await client.messages.create({ ...PARAMS, stream: true });
      for await (const ev of stream) if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') texts.push(ev.delta.text);
    })().catch((err: unknown) => err);
    expect(texts).toEqual(['Hello']);
    expect(failure).toBeInstanceOf(APIError);
    expect((failure as APIError).type).toBe('overloaded_error');
    expect((failure as APIError).error).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });

    const recs = await tg.waitForRecords(2);
    for (const rec of recs) {
      expect(rec.status).toBe(200);
      expect(rec.error).toEqual({ code: 'TG_ERR_UPSTREAM_STREAM', type: 'overloaded_error', message: 'Overloaded' });
      expect(rec.usage).toEqual(recordUsage(1)); // message_start's output_tokens; no message_delta came
    }
  });

  it('aborts the upstream promptly when the client aborts, recording the partial usage', async () => {
    const events = streamEvents(Array.from({ length: 30 }, (_, i) => `w${i} `));
    let mockWrites = 0;
    mock.route('POST', '/v1/messages', { sse: events, eventDelayMs: 50, onWrite: () => mockWrites++ });

    const ac = new AbortController();
    const stream = await client.messages.create({ ...PARAMS, stream: true }, { signal: ac.signal });
    for await (const ev of stream) {
      if (ev.type === 'content_block_delta') {
        ac.abort();
        break;
      }
    }
    const [upstream] = mock.requests;
    await within(upstream.done, 500, 'upstream request closed'); // the rest of the stream needs ~1.7 s

    expect(upstream.closedEarly).toBe(true);
    expect(mockWrites).toBeLessThan(events.length);
    const [rec] = await tg.waitForRecords(1);
    expect(rec).toMatchObject({ aborted: true, status: 200, stream: true, routeKind: 'messages' });
    expect(rec.usage).toEqual(recordUsage(1));
  });

  it('pauses the upstream for a slow client instead of buffering, then delivers everything', async () => {
    const delta = 'x'.repeat(16 * 1024);
    const events = streamEvents(Array.from({ length: 4000 }, () => delta));
    const wire = Buffer.from(serializeSseEvents(events));
    let written = 0;
    mock.route('POST', '/v1/messages', { sse: events, waitForDrain: true, onWrite: (w) => (written += w.bytes) });

    let clientRes: IncomingMessage | undefined;
    const done = postStream({
      onResponse: (res) => (clientRes = res),
      onChunk: (_chunk, i) => i === 0 && clientRes!.pause(),
    });
    const stalledAt = await waitForStall(() => written);

    // ~63 MiB body; what was written sits in the two loopback connections' kernel buffers
    // (~4 MB each on Linux), not in the gateway.
    expect(wire.length).toBeGreaterThan(62 * 1024 * 1024);
    expect(stalledAt).toBeLessThan(16 * 1024 * 1024);
    expect(gatewayRes!.writableLength).toBeLessThan(1024 * 1024); // nothing piles up inside the gateway
    clientRes!.resume();
    const res = await done;

    expect(written).toBe(wire.length);
    expect(res.body.length).toBe(wire.length);
    expect(res.body.equals(wire)).toBe(true);
    const [rec] = await tg.waitForRecords(1);
    expect(rec.usage).toEqual(recordUsage(7));
  });

  it('ends a stream that stalls longer than idleTimeoutMs with a timeout error event', async () => {
    await tg.close();
    tg = await startGateway({ upstream: mock, config: { providers: { anthropic: { idleTimeoutMs: 300 } } } });
    const events = streamEvents(['Hello']);
    mock.route('POST', '/v1/messages', { sse: events, eventDelayMs: 2000 });

    const started = Date.now();
    const res = await postStream();

    expect(Date.now() - started).toBeLessThan(1500);
    const error = { type: 'error', error: { type: 'timeout_error', message: 'the upstream response stalled' } };
    const got = parseSseEvents(res.body.toString());
    expect(got.map((e) => e.event)).toEqual(['message_start', 'error']); // the first event, then nothing for 2 s
    expect(got[1]!.data).toEqual(error);
    const [rec] = await tg.waitForRecords(1);
    expect(rec.error).toEqual({ code: 'TG_ERR_UPSTREAM_TIMEOUT', ...error.error });
  });

  it('does not time out a stream the gateway paused for a slow client', async () => {
    await tg.close();
    tg = await startGateway({ upstream: mock, config: { providers: { anthropic: { idleTimeoutMs: 300 } } } });
    const delta = 'x'.repeat(16 * 1024);
    const events = streamEvents(Array.from({ length: 1000 }, () => delta));
    const wire = Buffer.from(serializeSseEvents(events));
    mock.route('POST', '/v1/messages', { sse: events, waitForDrain: true });

    let clientRes: IncomingMessage | undefined;
    const done = postStream({ onResponse: (res) => (clientRes = res), onChunk: (_chunk, i) => i === 0 && clientRes!.pause() });
    await new Promise((r) => setTimeout(r, 1000)); // paused for more than three idle timeouts
    clientRes!.resume();
    const res = await done;

    expect(res.body.equals(wire)).toBe(true);
    const [rec] = await tg.waitForRecords(1);
    expect(rec.error).toBeUndefined();
  });

  it('ends the stream with an Anthropic error event when the upstream hangs up', async () => {
    const events = streamEvents(['Hello', ' there']);
    mock.route('POST', '/v1/messages', { sse: events, hangUpAfterEvents: 3 });

    const res = await postStream();

    expect(res.error).toBeUndefined(); // a clean end, after the error event
    const error = { type: 'error', error: { type: 'api_error', message: 'the upstream closed the connection' } };
    expect(res.body.toString()).toBe(serializeSseEvents([...events.slice(0, 3), { event: 'error', data: error }]));
    expect(parseSseEvents(res.body.toString()).map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'ping', 'error']);
    const [rec] = await tg.waitForRecords(1);
    expect(rec.status).toBe(200);
    expect(rec.aborted).toBe(false);
    expect(rec.error).toEqual({ code: 'TG_ERR_UPSTREAM_FAILED', ...error.error });
    expect(rec.usage).toEqual(recordUsage(1));
  });

  it('relays a gzip-compressed stream untouched and still reads its usage', async () => {
    const events = streamEvents(['Hello', ' gzip', ' world']);
    let written = 0;
    mock.route('POST', '/v1/messages', { sse: events, gzip: true, eventDelayMs: 5, onWrite: (w) => (written += w.bytes) });

    const res = await postStream({ headers: { 'accept-encoding': 'gzip' } });

    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.body.length).toBe(written);
    expect(gunzipSync(res.body).toString()).toBe(serializeSseEvents(events));
    const [rec] = await tg.waitForRecords(1);
    expect(rec.usage).toEqual(recordUsage(7));
    expect(rec.timings.firstTokenMs).toBeTypeOf('number');

    // The SDK (which decompresses) sees the plain events.
    const final = await client.messages.stream(PARAMS).finalText();
    expect(final).toBe('Hello gzip world');
  });

  it('strips litellm_metadata before the upstream and attributes tags and end user', async () => {
    mock.route('POST', '/v1/messages', { sse: streamEvents(['ok']) });
    const body = {
      ...PARAMS,
      stream: true as const,
      metadata: { user_id: 'user-123' },
      litellm_metadata: { tags: ['team-a', 'nightly'], user: 'end-user-7' },
    };

    const stream = await client.messages.create(body as Anthropic.MessageCreateParamsStreaming);
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);

    expect(types.at(-1)).toBe('message_stop');
    const { litellm_metadata: _dropped, ...forwarded } = body;
    expect(mock.requests[0].json()).toEqual(forwarded);
    expect(mock.requests[0].body.toString()).not.toContain('litellm_metadata');
    const [rec] = await tg.waitForRecords(1);
    expect(rec.tags).toEqual(['team-a', 'nightly']);
    expect(rec.endUser).toBe('end-user-7');
    expect(rec.stream).toBe(true);
    expect(rec.usage).toEqual(recordUsage(7));
  });
});
