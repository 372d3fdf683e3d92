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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { agentBody } from './lib/agent-body.mjs';
import { CLIENT_HEADERS, requestBody } from './lib/fixtures.mjs';
import { freePort, waitMessage, waitPort } from './lib/proc.mjs';
import { parseTargetFlag, takeEnvWords } from './lib/targets.mjs';

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

const mock = fork(new URL('./lib/mock-upstream.mjs', import.meta.url), ['--port', '0'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
children.add(mock);
const { port: mockPort } = await waitMessage(mock, (m) => m?.type === 'ready', 10_000, 'mock');
const upstream = `http://127.0.0.1:${mockPort}`;

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
for (const { name, path, cmd } of opts.target.map(parseTargetFlag)) {
  const port = await freePort();
  const argv = cmd.split(/\s+/).map((a) => a.replaceAll('{port}', String(port)).replaceAll('{upstream}', upstream));
  const envWords = takeEnvWords(argv);
  const out = join(dir, `${name}.out`);
  // valgrind runs the command; when it is node, V8's flags go first.
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
    // Under valgrind, starting takes tens of seconds.
    await waitPort(port, '127.0.0.1', 300_000, () => child.exitCode === null);
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
