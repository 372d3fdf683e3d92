// Load generator: one process (pinned by run.mjs), driven over IPC. Each command gets one
// reply of type `<command>:done` (or `error`).
//   { type: 'closed', origin, path, concurrency, durationMs }       closed loop → req/s
//   { type: 'open', origin, path, rate, durationMs, connections }   open loop → latency from scheduled send
//   { type: 'streams', origin, path, count, concurrency }           SSE → TTFB and first content delta
//   { type: 'hold', origin, path, count, timeoutMs }                opens `count` streams, replies 'hold:connected',
//   { type: 'release' }                                              then aborts them all on 'release' → 'release:done'
//   { type: 'gc' }                                                   collects garbage between phases (--expose-gc)
// The process exits when run.mjs goes away.
import { setMaxListeners } from 'node:events';
import { Pool } from 'undici';
import { CLIENT_HEADERS, FIRST_DELTA_MARKER, MESSAGE_JSON, requestBody } from './fixtures.mjs';
import { summarize } from './stats.mjs';

const JSON_BODY = requestBody();
const STREAM_BODY = requestBody({ stream: true });
const EXPECTED_BYTES = Buffer.byteLength(MESSAGE_JSON);
const now = () => performance.now();

const newPool = (origin, connections) => new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 120_000 });

function tally(errors, key) {
  errors[key] = (errors[key] ?? 0) + 1;
}

/** One non-streaming request; returns null on success or an error key. */
async function jsonRequest(pool, path) {
  try {
    const { statusCode, body } = await pool.request({ method: 'POST', path, headers: CLIENT_HEADERS, body: JSON_BODY });
    const buf = await body.arrayBuffer();
    if (statusCode !== 200) return `status ${statusCode}`;
    if (buf.byteLength !== EXPECTED_BYTES) return `body ${buf.byteLength} B`;
    return null;
  } catch (err) {
    return err.code ?? err.name ?? 'error';
  }
}

async function closed({ origin, path, concurrency, durationMs }) {
  const pool = newPool(origin, concurrency);
  const errors = {};
  let ok = 0;
  let failed = 0;
  const start = now();
  const end = start + durationMs;
  const worker = async () => {
    while (now() < end) {
      const e = await jsonRequest(pool, path);
      if (now() > end) break; // completed after the window: not counted
      if (e) {
        failed++;
        tally(errors, e);
      } else ok++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = Math.max(durationMs, 1);
  await pool.close();
  return { concurrency, durationMs, ok, failed, errors, rps: Math.round((ok / elapsed) * 1000 * 10) / 10 };
}

async function open({ origin, path, rate, durationMs, connections = 64, drainMs = 10_000 }) {
  const pool = newPool(origin, connections);
  const n = Math.max(1, Math.floor((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const latency = new Float64Array(n);
  const service = new Float64Array(n);
  const lag = new Float64Array(n);
  const errors = {};
  let done = 0;
  let failed = 0;
  let recorded = 0;
  let next = 0;
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  const t0 = now() + 5;
  const fire = (i) => {
    const scheduled = t0 + i * interval;
    const sent = now();
    lag[i] = sent - scheduled;
    jsonRequest(pool, path).then((e) => {
      if (e) {
        failed++;
        tally(errors, e);
      } else {
        const t = now();
        service[recorded] = t - sent;
        latency[recorded++] = t - scheduled;
      }
      if (++done === n) resolveAll();
    });
  };
  await new Promise((resolve) => {
    const tick = () => {
      const t = now();
      while (next < n && t0 + next * interval <= t) fire(next++);
      if (next >= n) return resolve();
      setTimeout(tick, Math.max(0, t0 + next * interval - now()));
    };
    setTimeout(tick, 5);
  });
  const drained = await Promise.race([all.then(() => true), new Promise((r) => setTimeout(() => r(false), drainMs))]);
  const pending = n - done;
  await pool.destroy();
  const lagS = summarize(lag);
  return {
    rate,
    durationMs,
    sent: n,
    ok: recorded,
    failed,
    pending: drained ? 0 : pending,
    errors,
    latencyMs: summarize(latency, recorded),
    // From the actual send instead of the schedule: diagnostics only (coordinated omission).
    serviceMs: summarize(service, recorded),
    sendLagMs: { p50: lagS.p50, p99: lagS.p99, max: lagS.max },
  };
}

/** One SSE request; returns { ttfb, firstDelta } in ms from send, or { error }. */
async function streamRequest(pool, path, signal) {
  const t0 = now();
  try {
    const { statusCode, body } = await pool.request({ method: 'POST', path, headers: CLIENT_HEADERS, body: STREAM_BODY, signal });
    const ttfb = now() - t0;
    let firstDelta;
    let text = '';
    for await (const chunk of body) {
      text += chunk.toString('utf8');
      if (firstDelta === undefined && text.includes(FIRST_DELTA_MARKER)) firstDelta = now() - t0;
    }
    if (statusCode !== 200) return { error: `status ${statusCode}` };
    if (!text.includes('event: message_stop')) return { error: 'no message_stop' };
    if (firstDelta === undefined) return { error: 'no content_block_delta' };
    return { ttfb, firstDelta };
  } catch (err) {
    return { error: err.code ?? err.name ?? 'error' };
  }
}

async function streams({ origin, path, count, concurrency }) {
  const pool = newPool(origin, concurrency);
  const ttfb = [];
  const firstDelta = [];
  const errors = {};
  let failed = 0;
  let issued = 0;
  const worker = async () => {
    while (issued < count) {
      issued++;
      const r = await streamRequest(pool, path);
      if (r.error) {
        failed++;
        tally(errors, r.error);
      } else {
        ttfb.push(r.ttfb);
        firstDelta.push(r.firstDelta);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pool.close();
  return { count, concurrency, ok: ttfb.length, failed, errors, ttfbMs: summarize(ttfb), firstDeltaMs: summarize(firstDelta) };
}

let held;

/** Opens `count` streams in batches; each counts as connected once its first body bytes arrive. */
async function hold({ origin, path, count, timeoutMs = 20_000, batch = 100, batchGapMs = 50 }) {
  const pool = newPool(origin, count);
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  const errors = {};
  let connected = 0;
  let failed = 0;
  let resolveAll;
  const allConnected = new Promise((r) => (resolveAll = r));
  const t0 = now();
  let lastConnectAt = 0;
  const one = async () => {
    let seen = false;
    try {
      const { statusCode, body } = await pool.request({ method: 'POST', path, headers: CLIENT_HEADERS, body: STREAM_BODY, signal: ac.signal });
      if (statusCode !== 200) throw Object.assign(new Error(), { code: `status ${statusCode}` });
      for await (const chunk of body) {
        if (!seen && chunk.length > 0) {
          seen = true;
          lastConnectAt = now() - t0;
          if (++connected + failed >= count) resolveAll();
        }
      }
      if (!ac.signal.aborted) tally(errors, 'ended before release');
    } catch (err) {
      if (ac.signal.aborted) return;
      failed++;
      tally(errors, err.code ?? err.name ?? 'error');
      if (connected + failed >= count) resolveAll();
    }
  };
  const tasks = [];
  for (let i = 0; i < count; i += batch) {
    for (let j = i; j < Math.min(count, i + batch); j++) tasks.push(one());
    await new Promise((r) => setTimeout(r, batchGapMs));
  }
  const timedOut = !(await Promise.race([allConnected.then(() => true), new Promise((r) => setTimeout(() => r(false), timeoutMs))]));
  held = { pool, ac, tasks };
  return { count, connected, failed, errors, timedOut, connectMs: Math.round(lastConnectAt) };
}

async function release() {
  if (!held) return {};
  held.ac.abort();
  await Promise.allSettled(held.tasks);
  await held.pool.destroy();
  held = undefined;
  return {};
}

/** Collects garbage left by the previous phase so it does not land in the next one. */
async function gc() {
  globalThis.gc?.();
  return {};
}

const handlers = { closed, open, streams, hold, release, gc };
const replyType = { hold: 'hold:connected' };

process.on('message', async (msg) => {
  const fn = handlers[msg?.type];
  if (!fn) return process.send({ type: 'error', message: `unknown command ${msg?.type}` });
  try {
    const result = await fn(msg);
    process.send({ type: replyType[msg.type] ?? `${msg.type}:done`, ...result });
  } catch (err) {
    process.send({ type: 'error', message: err.stack ?? String(err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
