#!/usr/bin/env node
// Where does a target spend its CPU? Runs one target under `node --cpu-prof`, pinned like the
// benchmark (target on core 0, mock and load generator on core 1), drives the closed loop for a
// few seconds, stops it, and prints CPU µs per request plus the top self-time functions and
// files (or, with --perf, Linux perf's on-CPU samples of core 0). Not a benchmark: the profiler
// itself costs CPU. Use it to compare before and after.
//   node bench/profile.mjs [--seconds 8] [--top 40] [--keep] -- node packages/cli/dist/main.js --port {port} --host 127.0.0.1
// The command gets the same env as in run.mjs; `node` in it gets --cpu-prof added.
import { existsSync, mkdtempSync, openSync, writeFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync, spawn } from 'node:child_process';
import { CLK_TCK, cpuSeconds, freePort, request, sleep, spawnNodePinned, stopChild, waitMessage, waitPort } from './lib/proc.mjs';
import { GATEWAY_PATH } from './lib/targets.mjs';

const cpuMillis = (pid) => cpuSeconds(pid) * 1000;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LIB = join(ROOT, 'bench/lib');
const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    top: { type: 'string', default: '40' },
    path: { type: 'string', default: GATEWAY_PATH },
    keep: { type: 'boolean', default: false },
    noprof: { type: 'boolean', default: false },
    inclusive: { type: 'string', default: 'packages/' },
    callers: { type: 'string' },
    children: { type: 'string' },
    stdout: { type: 'string' },
    // Writes {function: µs per request} of self time, to diff two runs.
    json: { type: 'string' },
    // Moves the newest busy thread (the SQLite writer when there is one, started on the first
    // write) to core 1 after the warm-up, so the main thread's profile is not charged for the time
    // that thread ran on its core (samples land on whatever the main thread resumes in).
    'move-newest-thread': { type: 'boolean', default: false },
    // Profiles only the measured closed loop (bench/lib/prof-hook.mjs, started and stopped with
    // SIGUSR2) instead of the whole process life with --cpu-prof.
    window: { type: 'boolean', default: false },
    // Streamed requests (SSE, the mock's default events) instead of JSON ones: N per phase, 16 at a time.
    streams: { type: 'string' },
    // With --streams: ms between the mock's events (0: they tend to arrive in one chunk).
    'event-delay-ms': { type: 'string', default: '0' },
    // Samples core 0 with Linux perf (cpu-clock, on-CPU only) during the measured phase instead of
    // V8's profiler, whose samples also land on the main thread while another thread of the
    // process runs on its core (the SQLite writer: see --move-newest-thread). JS frames are named
    // through --perf-basic-prof. Prints self time per process/library and the top symbols.
    perf: { type: 'boolean', default: false },
  },
});
if (positionals.length === 0) {
  console.error('usage: node bench/profile.mjs [--seconds N] -- <command with {port}>');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-prof-'));
const mock = spawnNodePinned(1, join(LIB, 'mock-upstream.mjs'), ['--port', '0', '--event-delay-ms', opts['event-delay-ms']]);
const { port: mockPort } = await waitMessage(mock, (m) => m?.type === 'ready', 10_000, 'mock');
const mockUrl = `http://127.0.0.1:${mockPort}`;
const port = await freePort();
const argv = positionals.map((a) => a.replaceAll('{port}', String(port)).replaceAll('{upstream}', mockUrl));
const windowOut = join(dir, 'window.cpuprofile');
if (argv[0] === 'node' && opts.perf) {
  argv.splice(1, 0, '--perf-basic-prof');
} else if (argv[0] === 'node' && !opts.noprof) {
  if (opts.window) argv.splice(1, 0, '--import', join(LIB, 'prof-hook.mjs'));
  else argv.splice(1, 0, '--cpu-prof', `--cpu-prof-dir=${dir}`);
}
if (argv[0] === 'node') argv[0] = process.execPath;
const env = {
  ...process.env,
  ANTHROPIC_BASE_URL: mockUrl,
  ANTHROPIC_API_KEY: 'sk-ant-bench',
  TOLLGATE_MASTER_KEY: process.env.TOLLGATE_MASTER_KEY ?? 'sk-master-bench',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  TOLLGATE_DATA_DIR: join(dir, 'data'),
  ...(opts.window ? { TOLLGATE_PROF_OUT: windowOut } : {}),
};
const target = spawn('taskset', ['-c', '0', ...argv], { cwd: ROOT, env, stdio: ['ignore', opts.stdout ? openSync(opts.stdout, 'w') : 'ignore', 'inherit'] });
await waitPort(port, '127.0.0.1', 60_000, () => target.exitCode === null);
const load = spawnNodePinned(1, join(LIB, 'load.mjs'), []);
const origin = `http://127.0.0.1:${port}`;
const beforeWarm = threadTicks(target.pid);
const phase = (seconds) =>
  opts.streams
    ? request(load, { type: 'streams', origin, path: opts.path, count: Number(opts.streams), concurrency: 16 }, 'streams:done', 300_000)
    : request(load, { type: 'closed', origin, path: opts.path, concurrency: 50, durationMs: seconds * 1000 }, 'closed:done', 120_000);
const warm = await phase(Number(opts.warmup));
if (opts['move-newest-thread']) {
  const busy = ([t, v]) => v.ticks - (beforeWarm.get(t)?.ticks ?? 0) > 0;
  const tid = Math.max(...[...threadTicks(target.pid)].filter(([t, v]) => v.name === 'node' && busy([t, v])).map(([t]) => Number(t)));
  execFileSync('taskset', ['-p', '-c', '1', String(tid)], { stdio: 'ignore' });
  console.log(`moved thread ${tid} to core 1`);
}
if (opts.window) process.kill(target.pid, 'SIGUSR2');
const perfData = join(dir, 'perf.data');
const perf = opts.perf ? spawn('perf', ['record', '-q', '-F', '4000', '-e', 'cpu-clock', '-C', '0', '-o', perfData], { stdio: 'ignore' }) : undefined;
const cpu0 = cpuMillis(target.pid);
const threads0 = threadTicks(target.pid);
const measured = performance.now();
const r = await phase(Number(opts.seconds));
const seconds = (performance.now() - measured) / 1000;
const cpu1 = cpuMillis(target.pid);
const threads1 = threadTicks(target.pid);
if (perf) {
  perf.kill('SIGINT');
  await new Promise((res) => perf.once('exit', res));
}
if (opts.window) {
  process.kill(target.pid, 'SIGUSR2');
  await waitFile(`${windowOut}.done`, 30_000);
}
const reqs = r.ok ?? r.requests ?? r.count;
console.log(`closed loop: ${reqs} ok, ${r.failed ?? 0} failed, ${(r.rps ?? reqs / seconds).toFixed(0)} req/s, CPU ${(((cpu1 - cpu0) * 1000) / reqs).toFixed(1)} µs/req`);
for (const [tid, t] of threads1) {
  const d = t.ticks - (threads0.get(tid)?.ticks ?? 0);
  if (d > 0) console.log(`  thread ${tid} ${t.name}: ${((d / CLK_TCK) * 1e6 / reqs).toFixed(1)} µs/req`);
}
await stopChild(load);
target.kill('SIGTERM');
await new Promise((res) => target.once('exit', res));
await stopChild(mock);
await sleep(100);

const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (perf) perfSummary(perfData, Number(opts.top), target.pid, (seconds * 1e4) / reqs);
else if (file) summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')), Number(opts.top), opts.window ? reqs : warm.ok + reqs);
else if (!opts.noprof) console.log('no profile written (did the target exit cleanly on SIGTERM?)');
if (opts.keep) console.log(`kept ${dir}`);
else rmSync(dir, { recursive: true, force: true });


/** perf's view of core 0: share per process and library, then the target's top symbols. */
function perfSummary(data, top, pid, usPerPercent) {
  const report = (args) => execFileSync('perf', ['report', '-i', data, '--no-children', '--stdio', '-q', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  console.log(`\ncore 0, on-CPU samples by process and library (1 % of core 0 = ${usPerPercent.toFixed(2)} µs per request):`);
  console.log(report(['--sort', 'comm,dso']).split('\n').filter(Boolean).slice(0, 15).join('\n'));
  console.log(`\nthe target's top symbols (pid ${pid}):`);
  console.log(report(['--pid', String(pid), '--sort', 'sym']).split('\n').filter(Boolean).slice(0, top).join('\n'));
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}

async function waitFile(path, ms) {
  for (const end = Date.now() + ms; !existsSync(path); ) {
    if (Date.now() > end) throw new Error(`no profile written to ${path}`);
    await sleep(50);
  }
}

function threadTicks(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = f.slice(f.indexOf('(') + 1, f.lastIndexOf(')'));
      const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name, ticks: Number(parts[11]) + Number(parts[12]) });
    } catch {}
  }
  return out;
}

function summarize(profile, top, requests) {
  const { nodes, samples, timeDeltas } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < samples.length; i++) self.set(samples[i], (self.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fnTotals = new Map();
  const fileTotals = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const file = cf.url.replace(`file://${ROOT}/`, '').replace(/.*node_modules\/\.pnpm\/([^/]+)\/.*/, '$1') || '(native/vm)';
    const fn = `${cf.functionName || '(anon)'} ${file}:${cf.lineNumber + 1}`;
    fnTotals.set(fn, (fnTotals.get(fn) ?? 0) + us);
    fileTotals.set(file, (fileTotals.get(file) ?? 0) + us);
  }
  // Percent of samples, and µs per request over every request the process served.
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}% ${(us / requests).toFixed(2).padStart(6)} µs`;
  console.log(`\nself time by file (main thread, ${(total / 1e6).toFixed(2)} s sampled):`);
  for (const [f, us] of [...fileTotals].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${pct(us)}  ${f}`);
  // Inclusive time of functions in files matching --inclusive (outermost frame of a match only).
  const incl = new Map();
  const walk = (id, inside) => {
    const n = byId.get(id);
    const url = n.callFrame.url;
    const match = !inside && url.includes(opts.inclusive);
    const key = match ? `${n.callFrame.functionName || '(anon)'} ${url.replace(`file://${ROOT}/`, '')}:${n.callFrame.lineNumber + 1}` : undefined;
    let sum = self.get(id) ?? 0;
    for (const c of n.children ?? []) sum += walk(c, inside || match);
    if (key) incl.set(key, (incl.get(key) ?? 0) + sum);
    return sum;
  };
  walk(nodes[0].id, false);
  console.log(`\ninclusive time of outermost frames in files matching ${JSON.stringify(opts.inclusive)}:`);
  for (const [f, us] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${f}`);
  if (opts.children) {
    // Inclusive time of each direct callee of every frame named --children.
    const inclusive = (id) => (self.get(id) ?? 0) + (byId.get(id).children ?? []).reduce((a, c) => a + inclusive(c), 0);
    const kids = new Map();
    let own = 0;
    for (const n of nodes) {
      if (n.callFrame.functionName !== opts.children) continue;
      own += self.get(n.id) ?? 0;
      for (const c of n.children ?? []) {
        const cf = byId.get(c).callFrame;
        const k = `${cf.functionName || '(anon)'}:${cf.url.split('/').pop()}:${cf.lineNumber + 1}`;
        kids.set(k, (kids.get(k) ?? 0) + inclusive(c));
      }
    }
    console.log(`\ncallees of ${opts.children} (self ${pct(own)}):`);
    for (const [k, us] of [...kids].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(us)}  ${k}`);
  }
  if (opts.callers) {
    const parent = new Map();
    for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const chains = new Map();
    for (const [id, us] of self) {
      if (byId.get(id).callFrame.functionName !== opts.callers) continue;
      const chain = [];
      for (let p = parent.get(id), i = 0; p !== undefined && i < 6; p = parent.get(p), i++) {
        const cf = byId.get(p).callFrame;
        chain.push(`${cf.functionName || '(anon)'}:${cf.url.split('/').pop()}:${cf.lineNumber + 1}`);
      }
      const k = chain.join(' < ');
      chains.set(k, (chains.get(k) ?? 0) + us);
    }
    console.log(`\ncallers of ${opts.callers}:`);
    for (const [k, us] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`${pct(us)}  ${k}`);
  }
  if (opts.json) writeFileSync(opts.json, JSON.stringify(Object.fromEntries([...fnTotals].map(([f, us]) => [f, us / requests]))));
  console.log('\nself time by function:');
  for (const [f, us] of [...fnTotals].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${f}`);
}
