import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMockUpstream, messageJson, messageStreamEvents, rawRequest, serializeSseEvents, type MockUpstream, type RecordedRequest } from '@tollgate/testing';
import { definePlugin, GatewayError, type PluginDefinition } from '../src/index.js';
import { startGateway, type TestGateway } from './helpers.js';

/**
 * A fuzz of plugin faults: one plugin whose hook at a chosen phase throws, rejects, throws or
 * rejects a GatewayError whose header value holds CR/LF, or leaves a header or status HTTP
 * cannot carry. Every combination, streamed and not: the process lives (no unhandled
 * rejection or exception), every request completes exactly once, and the client gets either
 * the upstream's answer intact or a well-formed Anthropic error, never an empty 200.
 */
const PHASES = ['onRequest', 'beforeUpstream', 'onResponseHeaders', 'onResponseBody', 'onChunk', 'onComplete'] as const;
const FAULTS = ['throw', 'reject', 'throw-crlf', 'reject-crlf', 'bad-header-value', 'bad-header-name', 'bad-status'] as const;
type Phase = (typeof PHASES)[number];
type Fault = (typeof FAULTS)[number];

const MESSAGE = messageJson({ text: 'intact' });
const EVENTS = messageStreamEvents({ text: ['in', 'tact'] });
const CRLF = 'a\r\nset-cookie: injected=1';

function fault(kind: Fault, headers: Record<string, unknown> | undefined, setStatus: ((s: number) => void) | undefined): unknown {
  switch (kind) {
    case 'throw':
      throw new Error('plugin bug');
    case 'reject':
      return Promise.reject(new Error('plugin bug'));
    case 'throw-crlf':
      throw new GatewayError('TG_ERR_FORBIDDEN', 'no', { headers: { 'x-why': CRLF } });
    case 'reject-crlf':
      return Promise.reject(new GatewayError('TG_ERR_FORBIDDEN', 'no', { headers: { 'x-why': CRLF } }));
    case 'bad-header-value':
      if (headers) headers['x-added'] = CRLF;
      return undefined;
    case 'bad-header-name':
      if (headers) headers['bad name'] = '1';
      return undefined;
    case 'bad-status':
      setStatus?.(42);
      return undefined;
  }
}

const faulty: PluginDefinition = definePlugin({
  name: 'faulty',
  priority: 500,
  setup: () => {
    const plan = (h: Record<string, string | string[] | undefined>, phase: Phase): Fault | undefined =>
      h['x-fault-phase'] === phase ? (h['x-fault'] as Fault) : undefined;
    return {
      onRequest(ctx) {
        // Non-streaming messages reach onResponseBody only for a plugin that asks to hold them.
        ctx.holdResponseBody();
        const f = plan(ctx.request.headers, 'onRequest');
        if (!f) return undefined;
        if (f === 'bad-header-value' || f === 'bad-header-name' || f === 'bad-status') {
          const reply = { status: 200, headers: {} as Record<string, string>, body: { ok: true } };
          fault(f, reply.headers, (s) => (reply.status = s));
          return reply;
        }
        return fault(f, undefined, undefined) as Promise<void>;
      },
      beforeUpstream(ctx, upstream) {
        const f = plan(ctx.request.headers, 'beforeUpstream');
        return f && (fault(f, upstream.headers, undefined) as Promise<void>);
      },
      onResponseHeaders(ctx, head) {
        const f = plan(ctx.request.headers, 'onResponseHeaders');
        return f && (fault(f, head.headers, (s) => (head.status = s)) as Promise<void>);
      },
      onResponseBody(ctx, head) {
        const f = plan(ctx.request.headers, 'onResponseBody');
        return f && (fault(f, head.headers, (s) => (head.status = s)) as Promise<void>);
      },
      onChunk(ctx) {
        const f = plan(ctx.request.headers, 'onChunk');
        // A hook written `async` against the synchronous contract: its rejection must not escape.
        return (f && fault(f, undefined, undefined)) as void;
      },
      onComplete(ctx) {
        const f = plan(ctx.request.headers, 'onComplete');
        return f && (fault(f, undefined, undefined) as Promise<void>);
      },
    };
  },
});

interface Expected {
  status: number;
  /** The error message of an error answer; undefined when the upstream's answer goes through. */
  message?: string;
  upstreamCalled: boolean;
}

function expected(phase: Phase, f: Fault, stream: boolean): Expected {
  const crlf = f === 'throw-crlf' || f === 'reject-crlf';
  const broken = crlf ? 'an error raised inside the gateway had an invalid header "x-why"' : 'internal gateway error';
  const badHead = (where: string) =>
    f === 'bad-status' ? `plugin "faulty" set an invalid status 42 in ${where}` : `plugin "faulty" set an invalid header ${f === 'bad-header-name' ? '"bad name"' : '"x-added"'} in ${where}`;
  switch (phase) {
    case 'onRequest':
      if (f === 'bad-status') return { status: 500, message: 'plugin "faulty" replied with an invalid status 42', upstreamCalled: false };
      if (f.startsWith('bad-header')) return { status: 500, message: `plugin "faulty" set an invalid header ${f === 'bad-header-name' ? '"bad name"' : '"x-added"'} in its onRequest reply`, upstreamCalled: false };
      return { status: 500, message: broken, upstreamCalled: false };
    case 'beforeUpstream':
      // No status to set before the upstream call: that fault is a no-op here.
      if (f === 'bad-status') return { status: 200, upstreamCalled: true };
      if (f.startsWith('bad-header')) return { status: 500, message: badHead('beforeUpstream'), upstreamCalled: false };
      return { status: 500, message: broken, upstreamCalled: false };
    case 'onResponseHeaders':
      if (f.startsWith('bad-')) return { status: 500, message: badHead('onResponseHeaders'), upstreamCalled: true };
      return { status: 500, message: broken, upstreamCalled: true };
    case 'onResponseBody':
      // Streams are never held back for body hooks; a failing body hook is logged and skipped.
      if (!stream && f.startsWith('bad-')) return { status: 500, message: badHead('onResponseBody'), upstreamCalled: true };
      return { status: 200, upstreamCalled: true };
    case 'onChunk':
    case 'onComplete':
      return { status: 200, upstreamCalled: true };
  }
}

let upstream: MockUpstream;
let t: TestGateway;
const escaped: unknown[] = [];
const onEscape = (err: unknown) => void escaped.push(err);

beforeAll(async () => {
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
  upstream = await createMockUpstream();
  upstream.route('POST', '/v1/messages', (req: RecordedRequest) => ((req.json() as { stream?: boolean }).stream ? { sse: EVENTS } : { json: MESSAGE }));
  t = await startGateway({ upstream, plugins: [faulty] });
});
afterAll(async () => {
  await t.close();
  await upstream.close();
  process.off('unhandledRejection', onEscape);
  process.off('uncaughtException', onEscape);
});

describe('plugin faults at every phase', () => {
  it('never crash the process, complete every request exactly once, and answer each client cleanly', async () => {
    const cases = PHASES.flatMap((phase) => FAULTS.flatMap((f) => [false, true].map((stream) => ({ phase, f, stream }))));
    const seen: string[] = [];
    const errorIds: string[] = [];
    for (const { phase, f, stream } of cases) {
      const name = `${phase}/${f}/${stream ? 'stream' : 'json'}`;
      const calls = upstream.requests.length;
      const res = await rawRequest(`${t.url}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-fault-phase': phase, 'x-fault': f },
        body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, stream, messages: [{ role: 'user', content: 'x' }] }),
      });
      const want = expected(phase, f, stream);
      const text = res.body.toString();
      seen.push(name);
      expect({ name, status: res.status }).toEqual({ name, status: want.status });
      expect({ name, upstreamCalled: upstream.requests.length > calls }).toEqual({ name, upstreamCalled: want.upstreamCalled });
      expect({ name, injected: res.headers['set-cookie'] }).toEqual({ name, injected: undefined });
      if (want.message === undefined) {
        expect({ name, body: stream ? text : JSON.parse(text) }).toEqual({ name, body: stream ? serializeSseEvents(EVENTS) : MESSAGE });
      } else {
        const body = JSON.parse(text) as { request_id: string };
        expect({ name, body }).toEqual({ name, body: { type: 'error', error: { type: 'api_error', message: want.message }, request_id: expect.any(String) } });
        errorIds.push(body.request_id);
      }
    }
    await t.waitForRecords(cases.length);
    await t.close();
    // Closed: nothing more can complete, so the count is final.
    expect(t.records).toHaveLength(cases.length);
    expect(new Set(t.records.map((r) => r.id)).size).toBe(cases.length);
    expect(t.records.map((r) => r.status)).toEqual(cases.map((c) => expected(c.phase, c.f, c.stream).status));
    expect(escaped).toEqual([]);
    // The request id in each error answer is that request's own record.
    expect(errorIds.every((id) => t.records.some((r) => r.id === id && r.status === 500))).toBe(true);
    // Each gateway-made 500 is logged with its request id and cause.
    const failures = t.logs.map((l) => JSON.parse(l) as { msg: string; reqId?: string }).filter((l) => l.msg === 'request failed inside the gateway');
    expect(failures.map((l) => l.reqId).sort()).toEqual([...errorIds].sort());
    expect(seen).toHaveLength(PHASES.length * FAULTS.length * 2);
  });
});
