#!/usr/bin/env node
// Paired bursts: CPU per request and throughput (closed loop, c=50) of two or more targets,
// measured in short alternating bursts so that the machine's drifts (this VM's speed wanders by
// ±15% over tens of seconds, and by 2x between sessions) hit every target alike. All targets
// stay up the whole time, pinned to core 0 (only the one under load is busy); mock and load
// generator on core 1. Each round runs every target once, in an order that rotates from round
// to round; each candidate is compared with the first target (the baseline) of the same round.
// Reports medians per target, and per candidate the median and quartiles of its per-round ratios.
//   node bench/ab.mjs [--bursts 10] [--seconds 2] --target 'name[@path]=<cmd with {port}>' --target … [--json FILE]
//   node bench/ab.mjs --a '<cmd>' --b '<cmd>' [--path P] [--path-b P]     (two targets, a = baseline)
//   --streams N: each burst is N streamed requests, 16 at a time, instead of --seconds of JSON ones.
// Leading NAME=value words of a command set that target's environment. An A/A run (the same
// command twice) shows the method's own bias and spread.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cpuSeconds, freePort, request, spawnNodePinned, stopChild, waitMessage, waitPort } from './lib/proc.mjs';
import { GATEWAY_PATH, parseTargetFlag, takeEnvWords } from './lib/targets.mjs';

const cpuMillis = (pid) => cpuSeconds(pid) * 1000;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LIB = join(ROOT, 'bench/lib');
const { values: opts } = parseArgs({
  options: {
    target: { type: 'string', multiple: true, default: [] },
    a: { type: 'string' },
    b: { type: 'string' },
    path: { type: 'string', default: GATEWAY_PATH },
    'path-b': { type: 'string' },
    bursts: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '3' },
    json: { type: 'string' },
    // Streamed requests instead of JSON ones: N per burst, 16 at a time (the mock's default events, no delay).
    streams: { type: 'string' },
  },
});
const specs = opts.target.map(parseTargetFlag);
if (opts.a && opts.b) specs.push({ name: 'a', path: opts.path, cmd: opts.a }, { name: 'b', path: opts['path-b'] ?? opts.path, cmd: opts.b });
if (specs.length < 2 || new Set(specs.map((t) => t.name)).size !== specs.length) {
  console.error("usage: node bench/ab.mjs --target 'base[@path]=<cmd>' --target 'name=<cmd>' … (distinct names), or --a '<cmd>' --b '<cmd>'");
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-ab-'));
// Targets run under taskset with no IPC channel: a run that fails (a target that does not start,
// a failed request) must not leave them, nor the mock, running and holding its output open.
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const mock = spawnNodePinned(1, join(LIB, 'mock-upstream.mjs'), ['--port', '0']);
children.push(mock);
const { port: mockPort } = await waitMessage(mock, (m) => m?.type === 'ready', 10_000, 'mock');
const mockUrl = `http://127.0.0.1:${mockPort}`;

async function start(name, cmd) {
  const port = await freePort();
  const argv = cmd.split(/\s+/).map((a) => a.replaceAll('{port}', String(port)).replaceAll('{upstream}', mockUrl));
  const own = takeEnvWords(argv);
  if (argv[0] === 'node') argv[0] = process.execPath;
  const env = { ...process.env, ...own, ANTHROPIC_BASE_URL: mockUrl, ANTHROPIC_API_KEY: 'sk-ant-bench', TOLLGATE_MASTER_KEY: process.env.TOLLGATE_MASTER_KEY ?? 'sk-master-bench', LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', TOLLGATE_DATA_DIR: join(dir, name), ...own };
  const child = spawn('taskset', ['-c', '0', ...argv], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  await waitPort(port, '127.0.0.1', 60_000, () => child.exitCode === null);
  return { name, child, origin: `http://127.0.0.1:${port}` };
}

const targets = [];
for (const spec of specs) targets.push({ ...(await start(spec.name, spec.cmd)), path: spec.path });
const load = spawnNodePinned(1, join(LIB, 'load.mjs'), []);
children.push(load);
const closed = async (t, s) => {
  if (!opts.streams) return request(load, { type: 'closed', origin: t.origin, path: t.path, concurrency: 50, durationMs: s * 1000 }, 'closed:done', 120_000);
  const t0 = performance.now();
  const r = await request(load, { type: 'streams', origin: t.origin, path: t.path, count: Number(opts.streams), concurrency: 16 }, 'streams:done', 300_000);
  return { ...r, rps: (r.ok * 1000) / (performance.now() - t0) };
};
for (const t of targets) await closed(t, Number(opts.warmup));

/** Per target, one { cpu: µs per request, rps } per round. */
const samples = Object.fromEntries(targets.map((t) => [t.name, []]));
for (let i = 0; i < Number(opts.bursts); i++) {
  const order = targets.map((_, k) => targets[(k + i) % targets.length]);
  for (const t of order) {
    const c0 = cpuMillis(t.child.pid);
    const io0 = syscalls(t.child.pid);
    const r = await closed(t, Number(opts.seconds));
    if (r.failed > 0) throw new Error(`${t.name}: ${r.failed} failed requests (${JSON.stringify(r.errors)})`);
    const io1 = syscalls(t.child.pid);
    samples[t.name].push({ cpu: ((cpuMillis(t.child.pid) - c0) * 1000) / r.ok, rps: r.rps, reads: (io1.reads - io0.reads) / r.ok, writes: (io1.writes - io0.writes) / r.ok });
  }
}
/** The process's read and write system calls so far (/proc/<pid>/io: syscr, syscw). */
function syscalls(pid) {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { reads: Number(/syscr: (\d+)/.exec(io)[1]), writes: Number(/syscw: (\d+)/.exec(io)[1]) };
}
const sorted = (xs) => [...xs].sort((x, y) => x - y);
const quantile = (xs, q) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const base = targets[0].name;
const summary = {};
for (const t of targets) {
  const s = samples[t.name];
  const cpu = s.map((x) => x.cpu);
  const rps = s.map((x) => x.rps);
  const perReq = (k) => quantile(s.map((x) => x[k]), 0.5).toFixed(2);
  console.log(`${t.name}: median ${quantile(cpu, 0.5).toFixed(1)} µs/req, ${quantile(rps, 0.5).toFixed(0)} req/s, ${perReq('reads')} reads + ${perReq('writes')} writes/req  (µs: ${cpu.map((x) => x.toFixed(0)).join(' ')})`);
  summary[t.name] = { cpuMedian: quantile(cpu, 0.5), rpsMedian: quantile(rps, 0.5), samples: s };
  if (t.name === base) continue;
  const rpsRatio = s.map((x, i) => x.rps / samples[base][i].rps);
  const cpuRatio = s.map((x, i) => x.cpu / samples[base][i].cpu);
  const fmt = (xs) => `median ${quantile(xs, 0.5).toFixed(3)} [quartiles ${quantile(xs, 0.25).toFixed(3)}–${quantile(xs, 0.75).toFixed(3)}]`;
  console.log(`  throughput / ${base} per round: ${fmt(rpsRatio)}  (${rpsRatio.map((x) => x.toFixed(2)).join(' ')})`);
  console.log(`  CPU per request / ${base} per round: ${fmt(cpuRatio)}`);
  Object.assign(summary[t.name], { rpsRatio, cpuRatio, rpsRatioMedian: quantile(rpsRatio, 0.5) });
}
if (opts.json) writeFileSync(opts.json, JSON.stringify({ bursts: Number(opts.bursts), seconds: Number(opts.seconds), baseline: base, targets: specs, summary }, null, 2));
await stopChild(load);
for (const t of targets) t.child.kill('SIGTERM');
await stopChild(mock);
process.exit(0);
