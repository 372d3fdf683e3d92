#!/usr/bin/env node
// A/B: CPU per request of two targets, measured in alternating short bursts so that the
// machine's slow drifts (this VM's speed wanders by ±15% over tens of seconds) hit both alike.
// Both targets stay up the whole time, pinned to core 0 (only the one under load is busy);
// mock and load generator on core 1. Reports the median and spread of each, and B/A.
//   node bench/ab.mjs [--bursts 10] [--seconds 2] --a '[NAME=value …] <cmd with {port}>' --b '<cmd>' [--path P] [--path-b P]
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cpuSeconds, freePort, request, spawnNodePinned, stopChild, waitMessage, waitPort } from './lib/proc.mjs';
import { GATEWAY_PATH } from './lib/targets.mjs';

const cpuMillis = (pid) => cpuSeconds(pid) * 1000;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LIB = join(ROOT, 'bench/lib');
const { values: opts } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    path: { type: 'string', default: GATEWAY_PATH },
    'path-b': { type: 'string' },
    bursts: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '3' },
  },
});
if (!opts.a || !opts.b) {
  console.error("usage: node bench/ab.mjs --a '<cmd with {port}>' --b '<cmd>'");
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-ab-'));
const mock = spawnNodePinned(1, join(LIB, 'mock-upstream.mjs'), ['--port', '0']);
const { port: mockPort } = await waitMessage(mock, (m) => m?.type === 'ready', 10_000, 'mock');
const mockUrl = `http://127.0.0.1:${mockPort}`;

async function start(name, cmd) {
  const port = await freePort();
  const argv = cmd.split(/\s+/).map((a) => a.replaceAll('{port}', String(port)).replaceAll('{upstream}', mockUrl));
  // Leading NAME=value words set that target's environment.
  const own = {};
  while (/^[A-Z_][A-Z0-9_]*=/.test(argv[0])) {
    const [k, ...v] = argv.shift().split('=');
    own[k] = v.join('=');
  }
  if (argv[0] === 'node') argv[0] = process.execPath;
  const env = { ...process.env, ...own, ANTHROPIC_BASE_URL: mockUrl, ANTHROPIC_API_KEY: 'sk-ant-bench', TOLLGATE_MASTER_KEY: process.env.TOLLGATE_MASTER_KEY ?? 'sk-master-bench', LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', TOLLGATE_DATA_DIR: join(dir, name), ...own };
  const child = spawn('taskset', ['-c', '0', ...argv], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitPort(port, '127.0.0.1', 60_000, () => child.exitCode === null);
  return { name, child, origin: `http://127.0.0.1:${port}` };
}

const targets = [await start('a', opts.a), await start('b', opts.b)];
const paths = { a: opts.path, b: opts['path-b'] ?? opts.path };
const load = spawnNodePinned(1, join(LIB, 'load.mjs'), []);
const closed = (t, s) => request(load, { type: 'closed', origin: t.origin, path: paths[t.name], concurrency: 50, durationMs: s * 1000 }, 'closed:done', 120_000);
for (const t of targets) await closed(t, Number(opts.warmup));

const samples = { a: [], b: [] };
for (let i = 0; i < Number(opts.bursts); i++) {
  for (const t of i % 2 === 0 ? targets : [...targets].reverse()) {
    const c0 = cpuMillis(t.child.pid);
    const r = await closed(t, Number(opts.seconds));
    samples[t.name].push(((cpuMillis(t.child.pid) - c0) * 1000) / r.ok);
  }
}
const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
for (const k of ['a', 'b']) console.log(`${k}: median ${med(samples[k]).toFixed(1)} µs/req  (${samples[k].map((x) => x.toFixed(0)).join(' ')})`);
const ratios = samples.a.map((x, i) => samples.b[i] / x);
console.log(`b/a per burst pair: median ${med(ratios).toFixed(3)}  (${ratios.map((x) => x.toFixed(2)).join(' ')})`);
await stopChild(load);
for (const t of targets) t.child.kill('SIGTERM');
await stopChild(mock);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
