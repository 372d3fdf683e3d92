import { describe, expect, it } from 'vitest';
import { createLogger, type CompletionRecord } from '@tollgate/core';
import { DeliveryError } from './delivery.js';
import { ExportQueue, type Sink } from './export-queue.js';
import { RingBuffer } from './ring-buffer.js';
import { until } from '@tollgate/testing';

function record(id: string, routeKind: CompletionRecord['routeKind'] = 'messages'): CompletionRecord {
  return {
    id,
    method: 'POST',
    path: '/anthropic/v1/messages',
    provider: 'anthropic',
    routeKind,
    stream: false,
    status: 200,
    tags: [],
    timings: { start: 0, end: 1, durationMs: 1 },
    aborted: false,
    state: {},
  };
}

/** A sink whose every attempt is decided by `behave`; it records what it was given. */
function fakeSink(behave: (attempt: number, signal: AbortSignal) => Promise<void> = async () => {}) {
  const batches: string[][] = [];
  let attempts = 0;
  const sink: Sink = {
    type: 'fake',
    encode: (records) => JSON.stringify(records.map((r) => r.id)),
    async deliver(payload, signal) {
      attempts++;
      await behave(attempts, signal);
      batches.push(JSON.parse(payload));
    },
  };
  return { sink, batches, attempts: () => attempts };
}

function queueWith(sink: Sink, options: Partial<ConstructorParameters<typeof ExportQueue>[0]> = {}) {
  const lines: Record<string, any>[] = [];
  const log = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
  const q = new ExportQueue({
    name: 'test',
    sink,
    log,
    routes: ['messages', 'count_tokens', 'batches', 'models', 'other'],
    batchSize: 100,
    flushIntervalMs: 10,
    maxQueue: 1000,
    maxAttempts: 3,
    retryBaseMs: 1,
    retryMaxMs: 5,
    ...options,
  });
  return { q, lines };
}

describe('RingBuffer', () => {
  it('evicts the oldest when full and takes in order', () => {
    const ring = new RingBuffer<number>(3);
    expect([1, 2, 3].map((n) => ring.push(n))).toEqual([undefined, undefined, undefined]);
    expect(ring.push(4)).toBe(1);
    expect(ring.take(2)).toEqual([2, 3]);
    ring.push(5);
    expect(ring.length).toBe(2);
    expect(ring.take(10)).toEqual([4, 5]);
    expect(ring.clear()).toBe(0);
  });
});

describe('ExportQueue', () => {
  it('push only enqueues; full batches go at once, the rest on the interval or at close', async () => {
    const { sink, batches } = fakeSink();
    const { q } = queueWith(sink, { batchSize: 3, flushIntervalMs: 60_000 });
    for (let i = 1; i <= 7; i++) q.push(record(`r${i}`));
    expect(batches).toEqual([]);
    await until(() => batches.length === 2);
    expect(batches).toEqual([['r1', 'r2', 'r3'], ['r4', 'r5', 'r6']]);
    expect(q.stats()).toMatchObject({ sent: 6, queueDepth: 1, dropped: 0 });
    await q.close(1000);
    expect(batches.at(-1)).toEqual(['r7']);
    expect(q.stats()).toEqual({ name: 'test', type: 'fake', sent: 7, dropped: 0, lost: { queueFull: 0, rejected: 0, retriesExhausted: 0, shutdown: 0 }, failed: 0, queueDepth: 0 });
  });

  it('a partial batch goes after flushIntervalMs', async () => {
    const { sink, batches } = fakeSink();
    const { q } = queueWith(sink, { flushIntervalMs: 20 });
    q.push(record('a'));
    q.push(record('b'));
    await until(() => batches.length === 1);
    expect(batches).toEqual([['a', 'b']]);
    await q.close(100);
  });

  it('only the configured route kinds are queued', async () => {
    const { sink, batches } = fakeSink();
    const { q } = queueWith(sink, { routes: ['messages'] });
    q.push(record('m'));
    q.push(record('c', 'count_tokens'));
    await q.close(1000);
    expect(batches).toEqual([['m']]);
  });

  it('retries with backoff, then drops the batch: counted and logged', async () => {
    const { sink, attempts } = fakeSink(async () => {
      throw new DeliveryError('connection refused', { retryable: true });
    });
    const { q, lines } = queueWith(sink, { maxAttempts: 3 });
    q.push(record('a'));
    q.push(record('b'));
    await until(() => q.stats().dropped === 2);
    expect(attempts()).toBe(3);
    expect(q.stats()).toMatchObject({ sent: 0, failed: 3, dropped: 2, lost: { retriesExhausted: 2 }, queueDepth: 0 });
    const drop = lines.find((l) => l.reason === 'retriesExhausted');
    expect(drop).toMatchObject({ level: 50, sink: 'test', records: 2, attempts: 3, droppedTotal: 2, msg: 'export records dropped: every attempt failed' });
    expect(lines.filter((l) => l.msg === 'export sink failed; retrying with backoff')).toHaveLength(1);
    await q.close(100);
  });

  it('a refusal no retry can fix drops the batch after one attempt', async () => {
    const { sink, attempts } = fakeSink(async () => {
      throw new DeliveryError('answered 400', { retryable: false });
    });
    const { q, lines } = queueWith(sink);
    q.push(record('a'));
    await until(() => q.stats().dropped === 1);
    expect(attempts()).toBe(1);
    expect(q.stats().lost).toEqual({ queueFull: 0, rejected: 1, retriesExhausted: 0, shutdown: 0 });
    expect(lines.some((l) => l.reason === 'rejected' && l.records === 1)).toBe(true);
    await q.close(100);
  });

  it('a sink that recovers within the attempts loses nothing', async () => {
    const { sink, batches } = fakeSink(async (n) => {
      if (n <= 2) throw new Error('EIO');
    });
    const { q, lines } = queueWith(sink);
    q.push(record('a'));
    await until(() => batches.length === 1);
    expect(q.stats()).toMatchObject({ sent: 1, failed: 2, dropped: 0 });
    expect(lines.some((l) => l.msg === 'export sink delivering again')).toBe(true);
    await q.close(100);
  });

  it('a full queue drops the oldest waiting record (not the batch in flight), counted and logged once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { sink, batches } = fakeSink(() => gate);
    const { q, lines } = queueWith(sink, { batchSize: 1, maxQueue: 3 });
    q.push(record('r1'));
    await until(() => q.stats().queueDepth === 1 && batches.length === 0);
    await new Promise((r) => setTimeout(r, 20));
    for (const id of ['r2', 'r3', 'r4', 'r5', 'r6']) q.push(record(id));
    expect(q.stats()).toMatchObject({ queueDepth: 4, dropped: 2, lost: { queueFull: 2 } });
    release();
    await until(() => batches.length === 4);
    expect(batches.flat()).toEqual(['r1', 'r4', 'r5', 'r6']);
    const full = lines.filter((l) => l.reason === 'queueFull');
    // The first loss is logged at once; later ones are summed up (at close here).
    expect(full.map((l) => l.records)).toEqual([1]);
    await q.close(100);
    expect(lines.filter((l) => l.reason === 'queueFull').map((l) => l.records)).toEqual([1, 1]);
  });

  it('close gives a hanging sink shutdownTimeoutMs, then drops what is left', async () => {
    const { sink } = fakeSink(
      (_n, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
    );
    const { q, lines } = queueWith(sink, { batchSize: 2 });
    for (const id of ['a', 'b', 'c']) q.push(record(id));
    await until(() => q.stats().queueDepth === 3);
    const t0 = Date.now();
    await q.close(100);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(q.stats()).toMatchObject({ sent: 0, dropped: 3, lost: { shutdown: 3 }, queueDepth: 0 });
    expect(lines.filter((l) => l.reason === 'shutdown').map((l) => l.records).sort()).toEqual([1, 2]);
    q.push(record('late'));
    expect(q.stats().lost.shutdown).toBe(4);
  });
});
