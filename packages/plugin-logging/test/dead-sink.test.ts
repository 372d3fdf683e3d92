import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postMessage, startHarness, type Harness } from './harness.js';
import { refusedUrl, startReceiver, until, type Receiver } from './receiver.js';

const ROUNDS = 20;
const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] };
const SHUTDOWN_MS = 300;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('dead sinks: retried, then dropped with a counted and logged loss, never slowing requests', () => {
  let plain: Harness;
  let dead: Harness;
  let hanging: Receiver;
  const timings = { plain: [] as number[], dead: [] as number[] };

  beforeAll(async () => {
    hanging = await startReceiver('hang');
    plain = await startHarness();
    dead = await startHarness({
      logging: {
        // Connection refused at once: every batch of one burns its three attempts, then is dropped.
        otlp: [{ endpoint: await refusedUrl(), batchSize: 1, flushIntervalMs: 1, maxAttempts: 3, retryBaseMs: 5, retryMaxMs: 20 }],
        // Accepts and never answers: each attempt times out; the queue of 4 overflows meanwhile.
        webhook: [{ name: 'hook', url: hanging.url, batchSize: 2, flushIntervalMs: 1, maxQueue: 4, maxAttempts: 2, timeoutMs: 150, retryBaseMs: 10 }],
        shutdownTimeoutMs: SHUTDOWN_MS,
      },
    });
    // The same traffic through both gateways, interleaved so machine noise hits both alike.
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 === 0 ? (['plain', 'dead'] as const) : (['dead', 'plain'] as const);
      for (const which of order) {
        const gw = which === 'plain' ? plain : dead;
        const res = await postMessage(gw.baseURL, PARAMS, 'unused');
        expect(res.status).toBe(200);
        timings[which].push(res.ms);
      }
    }
  });
  afterAll(async () => {
    await plain?.close();
    await dead?.close();
    await hanging?.close();
  });

  it('request latency is the same with dead sinks (generous bound; bench/ measures it properly)', () => {
    const [p, d] = [median(timings.plain), median(timings.dead)];
    expect(d).toBeLessThan(p * 2 + 20);
  });

  it('every record is accounted for: sent + dropped + waiting = requests', () => {
    for (const s of dead.stats()) expect(s.sent + s.dropped + s.queueDepth).toBe(ROUNDS);
  });

  it('connection refused: three attempts per batch, then each batch dropped, counted and logged', async () => {
    await until(() => dead.stat('otlp').lost.retriesExhausted === ROUNDS);
    expect(dead.stat('otlp')).toEqual({
      name: 'otlp',
      type: 'otlp',
      sent: 0,
      dropped: ROUNDS,
      lost: { queueFull: 0, rejected: 0, retriesExhausted: ROUNDS, shutdown: 0 },
      failed: ROUNDS * 3,
      queueDepth: 0,
    });
    const drops = dead.logs.filter((l) => l.sink === 'otlp' && l.reason === 'retriesExhausted');
    expect(drops).toHaveLength(ROUNDS);
    expect(drops[0]).toMatchObject({ level: 50, plugin: 'logging', records: 1, attempts: 3, msg: 'export records dropped: every attempt failed' });
    expect(drops[0].err.message).toMatch(/ECONNREFUSED/);
    // One warning when the sink starts failing, not one per attempt.
    expect(dead.logs.filter((l) => l.sink === 'otlp' && l.msg === 'export sink failed; retrying with backoff')).toHaveLength(1);
  });

  it('a hanging receiver: attempts time out, the full queue drops its oldest records, counted and logged', async () => {
    await until(() => dead.stat('hook').failed >= 2);
    const s = dead.stat('hook');
    expect(s.sent).toBe(0);
    expect(s.lost.queueFull).toBeGreaterThan(0);
    expect(s.queueDepth).toBeLessThanOrEqual(4 + 2);
    expect(hanging.arrived).toBeGreaterThanOrEqual(2);
    const full = dead.logs.find((l) => l.sink === 'hook' && l.reason === 'queueFull');
    expect(full).toMatchObject({ level: 50, maxQueue: 4, msg: 'export records dropped: the queue is full (the oldest waiting records made room)' });
    const timedOut = dead.logs.find((l) => l.sink === 'hook' && l.msg === 'export sink failed; retrying with backoff');
    expect(timedOut?.err.message).toMatch(/timed out/);
  });

  it('close waits at most shutdownTimeoutMs for the hanging sink, then drops what is left', async () => {
    const t0 = Date.now();
    await dead.close();
    expect(Date.now() - t0).toBeLessThan(SHUTDOWN_MS + 1000);
    for (const s of dead.stats()) {
      expect(s.queueDepth).toBe(0);
      expect(s.sent + s.dropped).toBe(ROUNDS);
    }
    expect(dead.stat('hook').lost.shutdown + dead.stat('hook').lost.retriesExhausted).toBeGreaterThan(0);
    expect(dead.stat('hook').dropped).toBe(ROUNDS);
  });
});

describe('receivers that answer with an error status', () => {
  it('a 4xx no retry can fix is dropped after one attempt; 5xx and 429 are retried until they pass', async () => {
    const refusing = await startReceiver(400);
    const flaky = await startReceiver(503);
    const h = await startHarness({
      logging: {
        webhook: [
          { name: 'refusing', url: refusing.url, flushIntervalMs: 1, maxAttempts: 5, retryBaseMs: 1 },
          { name: 'flaky', url: flaky.url, flushIntervalMs: 1, maxAttempts: 10, retryBaseMs: 5, retryMaxMs: 10 },
        ],
      },
    });
    try {
      expect((await postMessage(h.baseURL, PARAMS, 'unused')).status).toBe(200);
      await until(() => h.stat('refusing').dropped === 1 && flaky.arrived >= 2);
      expect(h.stat('refusing')).toMatchObject({ sent: 0, failed: 1, lost: { rejected: 1 } });
      expect(refusing.arrived).toBe(1);
      const refused = h.logs.find((l) => l.sink === 'refusing' && l.reason === 'rejected');
      expect(refused?.err.message).toMatch(/answered 400/);
      flaky.mode = 429;
      await until(() => flaky.arrived >= 3);
      flaky.mode = 'ok';
      await until(() => h.stat('flaky').sent === 1);
      expect(h.stat('flaky')).toMatchObject({ sent: 1, dropped: 0, failed: flaky.arrived - 1 });
    } finally {
      await h.close();
      await refusing.close();
      await flaky.close();
    }
  });
});
