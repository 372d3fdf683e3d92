// Instructions per request: each target runs under valgrind's callgrind, which counts every
// instruction its threads execute (the writer thread too). After a warm-up, the count is zeroed,
// a fixed number of requests run, and the count is dumped (--windows times; the median kept). On this VM wall time drifts by
// ±15 % over seconds; an instruction count does not, so a change of 1 µs shows where a timed
// A/B needs dozens of bursts. It is a proxy for CPU time (cache misses and syscall time are
// not in it): use it to find and check small wins, and the timed benches for the budgets.
//
//   node bench/instructions.mjs [--requests 2000] [--warmup 4000] [--concurrency 4] [--windows 5]
//     [--stream | --size 87k|500k|2m | --body FILE] ['--node-flags=--single-threaded …']
//     --target 'NAME[@PATH]=COMMAND' ...      ({port} and {upstream} substituted, as in ab.mjs)
// KEEP=1 keeps the callgrind output (NAME.out.N per window) and prints where.
import { execFileSync, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { agentBody } from './lib/agent-body.mjs';
import { CLIENT_HEADERS, requestBody } from './lib/fixtures.mjs';

const { values: opts } = parseArgs({
  options: {
    target: { type: 'string', multiple: true, default: [] },
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '4' },
    stream: { type: 'boolean', default: false },
    // A body from a file, or an agent-shaped one as sizes.mjs sends (87k, 500k, 2m; always a stream).
    body: { type: 'string' },
    size: { type: 'string' },
    windows: { type: 'string', default: '5' },
    // V8 without helper threads: its compiler and GC then run on the main thread, in the count
    // in a repeatable way, instead of on threads whose share of a window varies.
    'node-flags': { type: 'string', default: '--single-threaded' },
  },
});
if (opts.target.length === 0) {
  console.error('usage: node bench/instructions.mjs --target NAME[@PATH]=COMMAND [--target …]');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-instr-'));
const AGENT = { '87k': 0, '500k': 500 * 1024, '2m': 2 * 1024 * 1024 };
if (opts.size !== undefined && !(opts.size in AGENT)) throw new Error(`--size: one of ${Object.keys(AGENT).join(', ')}`);
const body = opts.body ? readFileSync(opts.body) : opts.size ? agentBody(AGENT[opts.size]) : requestBody({ stream: opts.stream });
const children = new Set();
const stopAll = () => {
  for (const c of children) c.kill('SIGKILL');
};
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const mock = fork(new URL('./lib/mock-upstream.mjs', import.meta.url), ['--port', '0'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
children.add(mock);
const mockPort = await new Promise((resolve) => mock.on('message', (m) => m.type === 'ready' && resolve(m.port)));
const upstream = `http://127.0.0.1:${mockPort}`;

async function waitForPort(port, child) {
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`target exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('target did not listen within 300 s');
}

async function load(pool, path, n) {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next++ < n) {
      const { statusCode, body: b } = await pool.request({ method: 'POST', path, headers: CLIENT_HEADERS, body });
      await b.arrayBuffer();
      if (statusCode !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: Number(opts.concurrency) }, worker));
  if (failed) throw new Error(`${failed} of ${n} requests failed`);
}

function totalIr(file) {
  const text = readFileSync(file, 'utf8');
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(text);
  if (!m) throw new Error(`no totals in ${file}`);
  return Number(m[1]);
}

const results = [];
for (const spec of opts.target) {
  const eq = spec.indexOf('=');
  const [name, path = '/anthropic/v1/messages'] = spec.slice(0, eq).split('@');
  const port = await freePort();
  const command = spec
    .slice(eq + 1)
    .replaceAll('{port}', String(port))
    .replaceAll('{upstream}', upstream);
  const out = join(dir, `${name}.out`);
  // The first word must be node: valgrind runs it, with the rest as its arguments.
  const [envWords, argv] = splitCommand(command);
  if (argv[0] === 'node') argv.splice(1, 0, ...opts['node-flags'].split(/\s+/).filter(Boolean));
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`, '--dump-instr=no', ...argv],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        ANTHROPIC_BASE_URL: upstream,
        ANTHROPIC_API_KEY: 'sk-ant-bench',
        TOLLGATE_MASTER_KEY: 'sk-master-bench',
        LOG_LEVEL: 'info',
        TOLLGATE_DATA_DIR: mkdtempSync(join(dir, 'data-')),
        ...envWords,
      },
    },
  );
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    await waitForPort(port, child);
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: Number(opts.concurrency), pipelining: 1 });
    await load(pool, path, Number(opts.warmup));
    const n = Number(opts.requests);
    const windows = [];
    for (let w = 1; w <= Number(opts.windows); w++) {
      execFileSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
      await load(pool, path, n);
      execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
      windows.push(Math.round(totalIr(`${out}.${w}`) / n));
    }
    await pool.close();
    // The median window: a window that holds a full garbage collection counts it whole.
    const perRequest = [...windows].sort((a, b) => a - b)[Math.floor(windows.length / 2)];
    results.push({ name, windows, perRequest });
    console.error(`${name}: k instructions per request, window by window: ${windows.map((x) => (x / 1000).toFixed(1)).join(' ')}`);
  } catch (err) {
    console.error(`${name} failed: ${err.message}\n${stderr.slice(-2000)}`);
    process.exitCode = 1;
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
  }
}
mock.kill();
const base = results[0];
if (base) for (const r of results) console.log(`${r.name.padEnd(16)} ${(r.perRequest / 1000).toFixed(1).padStart(8)} k/req  ${(r.perRequest / base.perRequest).toFixed(3)}×  (${r.perRequest >= base.perRequest ? '+' : ''}${((r.perRequest - base.perRequest) / 1000).toFixed(1)} k)`);
if (process.env.KEEP) console.error('kept', dir); else rmSync(dir, { recursive: true, force: true });

/** Leading NAME=value words become environment; the rest is the command's argv. */
function splitCommand(command) {
  const words = command.trim().split(/\s+/);
  const env = {};
  while (words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) {
    const w = words.shift();
    env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  return [env, words];
}
