#!/usr/bin/env node
// The request-size axis: what a request body's size costs the gateway, against the bare undici
// proxy in the same run. For each size (300 B, an 87 KB agent-shaped first turn, 500 KB, 2 MB)
// and each target: a closed loop of streamed Messages requests; the target's own CPU time per
// request (process.cpuUsage, read inside the target) and its event-loop delay under that load
// (perf_hooks.monitorEventLoopDelay), both from bench/lib/loop-probe.mjs, preloaded with --import.
// Both targets run side by side; each size is measured in --rounds rounds that alternate between
// them, so that this VM's drifts in speed (±15 % over tens of seconds) hit both alike.
//
//   pnpm bench:sizes                       # tsc -b, then the full run (~2 min)
//   node bench/sizes.mjs --requests=40 --warmup=10 --concurrency=4   # a smoke run
//
// Targets (see README): the 87 KB gateway CPU per request must be ≤ the bare proxy's + 150 µs,
// and at 2 MB the gateway's p99 event-loop delay ≤ 2 ms. Exit code 1 with --strict when not.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { agentBody } from './lib/agent-body.mjs';
import { CLIENT_HEADERS, requestBody } from './lib/fixtures.mjs';
import { freePort, pinSelf, request, spawnNodePinned, stopChild, waitMessage, waitPort } from './lib/proc.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LIB = join(ROOT, 'bench', 'lib');
const { values: opts } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '4' },
    sizes: { type: 'string', default: '300,87k,500k,2m' },
    strict: { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    label: { type: 'string', default: 'sizes' },
  },
});

const TARGET_CPU = 0;
const LOAD_CPU = 1;
const CPU_BUDGET_US = 150;
const LOOP_BUDGET_MS = 2;

const BODIES = {
  300: () => requestBody({ stream: true }),
  '87k': () => agentBody(0),
  '500k': () => agentBody(500 * 1024),
  '2m': () => agentBody(2 * 1024 * 1024),
};

const cli = join(ROOT, 'packages/cli/dist/main.js');
if (!existsSync(cli)) throw new Error('packages/cli/dist/main.js is missing: run `pnpm build` first');
pinSelf(LOAD_CPU);
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-sizes-'));
const children = [];
const track = (c) => (children.push(c), c);

const mock = track(spawnNodePinned(LOAD_CPU, join(LIB, 'mock-upstream.mjs'), ['--port', '0'], { stdio: 'ignore' }));
const { port: mockPort } = await waitMessage(mock, (m) => m?.type === 'ready', 10_000, 'mock upstream');
const mockUrl = `http://127.0.0.1:${mockPort}`;

const TARGETS = [
  { name: 'undici-proxy', path: '/v1/messages', script: join(LIB, 'bare-proxy.mjs'), args: (port) => ['--port', String(port), '--upstream', mockUrl] },
  { name: 'gateway', path: '/anthropic/v1/messages', script: cli, args: (port) => ['--port', String(port), '--host', '127.0.0.1'] },
];

async function startTarget(t) {
  const port = await freePort();
  const env = { ...process.env, ANTHROPIC_BASE_URL: mockUrl, ANTHROPIC_API_KEY: 'sk-ant-bench', TOLLGATE_MASTER_KEY: 'sk-master-bench', LOG_LEVEL: 'info', TOLLGATE_DATA_DIR: join(tmp, `${t.name}-data`) };
  delete env.NODE_OPTIONS;
  const child = track(spawnNodePinned(TARGET_CPU, t.script, t.args(port), { env, stdio: 'ignore', nodeArgs: ['--import', join(LIB, 'loop-probe.mjs')] }));
  await waitPort(port, '127.0.0.1', 60_000, () => child.exitCode === null);
  return { child, origin: `http://127.0.0.1:${port}` };
}

/** `n` requests, `concurrency` at a time, each body read to the end; throws on a non-200. */
async function load(pool, path, body, n, concurrency) {
  let next = 0;
  const headers = { ...CLIENT_HEADERS, 'content-length': String(body.length) };
  const worker = async () => {
    while (next++ < n) {
      const res = await pool.request({ method: 'POST', path, headers, body });
      const text = await res.body.text();
      if (res.statusCode !== 200 || !text.includes('message_stop')) throw new Error(`status ${res.statusCode}: ${text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const rows = [];
const n = Number(opts.requests);
const concurrency = Number(opts.concurrency);
const rounds = Number(opts.rounds);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  // Both targets stay up; per size, rounds alternate between them (the order flips every round),
  // so a drift of the machine's speed hits both alike.
  const live = [];
  for (const t of TARGETS) {
    const target = await startTarget(t);
    live.push({ ...t, ...target, pool: new Pool(target.origin, { connections: concurrency, pipelining: 1 }) });
  }
  try {
    for (const size of opts.sizes.split(',')) {
      const body = Buffer.from(BODIES[size]());
      const per = new Map(live.map((t) => [t.name, { cpuUs: 0, seconds: 0, requests: 0, loops: [] }]));
      for (const t of live) await load(t.pool, t.path, body, Number(opts.warmup), concurrency);
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? live : [...live].reverse();
        for (const t of order) {
          const count = Math.ceil(n / rounds);
          await request(t.child, { type: 'probe:reset' }, 'probe:reset:done', 5000);
          const started = performance.now();
          await load(t.pool, t.path, body, count, concurrency);
          const seconds = (performance.now() - started) / 1000;
          const probe = await request(t.child, { type: 'probe:read' }, 'probe:read:done', 5000);
          const acc = per.get(t.name);
          acc.cpuUs += probe.cpuUs;
          acc.seconds += seconds;
          acc.requests += count;
          acc.loops.push(probe.loop);
        }
      }
      // One more pass per target with every callback timed (the hooks cost CPU, so not counted above).
      for (const t of live) {
        await request(t.child, { type: 'probe:reset', callbacks: true }, 'probe:reset:done', 5000);
        await load(t.pool, t.path, body, Math.ceil(n / rounds), concurrency);
        per.get(t.name).callbacks = (await request(t.child, { type: 'probe:read' }, 'probe:read:done', 5000)).callbacks;
        await request(t.child, { type: 'probe:reset' }, 'probe:reset:done', 5000);
      }
      for (const t of live) {
        const acc = per.get(t.name);
        const loop = Object.fromEntries(['p50', 'p99', 'max', 'mean'].map((k) => [k, median(acc.loops.map((l) => l[k]))]));
        rows.push({ target: t.name, size, bytes: body.length, reqPerSec: Math.round(acc.requests / acc.seconds), cpuUsPerReq: Math.round(acc.cpuUs / acc.requests), loop, callbacks: acc.callbacks, rounds: acc.loops });
        console.error(`${t.name} ${size}: ${JSON.stringify({ ...rows.at(-1), rounds: undefined })}`);
      }
    }
  } finally {
    for (const t of live) {
      await t.pool.close();
      await stopChild(t.child);
    }
  }
} finally {
  for (const c of children) await stopChild(c);
  rmSync(tmp, { recursive: true, force: true });
}

const verdicts = [];
const notes = [];
const row = (target, size) => rows.find((r) => r.target === target && r.size === size);
if (row('gateway', '87k') && row('undici-proxy', '87k')) {
  const extra = row('gateway', '87k').cpuUsPerReq - row('undici-proxy', '87k').cpuUsPerReq;
  verdicts.push({ check: `87 KB: gateway CPU ≤ bare + ${CPU_BUDGET_US} µs/request`, value: `${extra >= 0 ? "+" : ""}${extra} µs`, ok: extra <= CPU_BUDGET_US });
}
if (row('gateway', '2m')) {
  const p99 = row('gateway', '2m').loop.p99;
  verdicts.push({ check: `2 MB: gateway p99 event-loop delay ≤ ${LOOP_BUDGET_MS} ms`, value: `${p99} ms (bare proxy: ${row('undici-proxy', '2m')?.loop.p99} ms)`, ok: p99 <= LOOP_BUDGET_MS });
  const longest = row('gateway', '2m').callbacks.max;
  verdicts.push({ check: `2 MB: no gateway callback blocks the event loop longer than ${LOOP_BUDGET_MS} ms`, value: `longest ${longest} ms (bare proxy: ${row('undici-proxy', '2m')?.callbacks.max} ms)`, ok: longest <= LOOP_BUDGET_MS });
}
// Not a target: the longest callback less the garbage collections inside it, to tell V8's
// pauses from the rest.
const netOfGc = (r) => r?.callbacks.maxNetOfGcMs;
if (row('gateway', '2m')) notes.push(`2 MB, the longest callback net of the garbage collections inside it: gateway ${netOfGc(row('gateway', '2m'))} ms, bare proxy ${netOfGc(row('undici-proxy', '2m'))} ms (longest collection: ${row('gateway', '2m').callbacks.gcMaxMs} and ${row('undici-proxy', '2m')?.callbacks.gcMaxMs} ms)`);

const lines = [
  `# Request-size axis (${new Date().toISOString()})`,
  '',
  `${n} streamed requests per cell, ${concurrency} at a time, after ${opts.warmup} warm-up, in ${rounds} rounds that alternate between the targets (CPU: all rounds together; loop delay: the median round), then one more pass per target with every callback timed (async_hooks: how long one callback kept the loop from everything else); target pinned to core ${TARGET_CPU}, load + mock to core ${LOAD_CPU}.`,
  '',
  '| target | size | bytes | req/s | CPU µs/req | loop p50 ms | loop p99 ms | loop max ms | callback p99 ms | callback p99.9 ms | longest callback ms | longest net of GC ms |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.target} | ${r.size} | ${r.bytes} | ${r.reqPerSec} | ${r.cpuUsPerReq} | ${r.loop.p50} | ${r.loop.p99} | ${r.loop.max} | ${r.callbacks.p99} | ${r.callbacks.p999} | ${r.callbacks.max} | ${r.callbacks.maxNetOfGcMs} |`),
  '',
  ...verdicts.map((v) => `- ${v.ok ? 'PASS' : 'FAIL'} ${v.check}: ${v.value}`),
  ...notes.map((n) => `- ${n}`),
];
console.log(lines.join('\n'));
const stamp = new Date().toISOString().slice(0, 10);
let file = join(opts.out, `${stamp}-${opts.label}`);
for (let i = 2; existsSync(`${file}.md`); i++) file = join(opts.out, `${stamp}-${opts.label}-${i}`);
writeFileSync(`${file}.md`, lines.join('\n') + '\n');
writeFileSync(`${file}.json`, JSON.stringify({ opts, rows, verdicts }, null, 2) + '\n');
console.error(`results: ${file}.md`);
if (opts.strict && verdicts.some((v) => !v.ok)) process.exitCode = 1;
