#!/usr/bin/env node
// What does an open stream keep on the JS heap? Starts a target with --heapsnapshot-signal,
// takes a heap snapshot, opens N streams whose upstream sends one event and then waits, takes
// a second snapshot, and prints what grew, by kind and constructor (self sizes). Not pinned,
// not timed: it counts objects. The path is /anthropic/v1/messages, or /v1/messages with --bare.
//   node bench/stream-heap.mjs [--streams 1000] [--bare] -- node bench/lib/virtual-key-gateway.mjs --port {port} --host 127.0.0.1
//   node bench/stream-heap.mjs --bare -- node bench/lib/bare-proxy.mjs --port {port} --host 127.0.0.1 --upstream {upstream}
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { createMockUpstream, messageStreamEvents } from '../packages/testing/dist/index.js';
import { CLIENT_HEADERS, requestBody } from './lib/fixtures.mjs';
import { freePort } from './lib/proc.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { streams: { type: 'string', default: '1000' }, bare: { type: 'boolean', default: false }, top: { type: 'string', default: '30' } },
});
if (positionals.length === 0) {
  console.error('usage: node bench/stream-heap.mjs [--streams N] [--bare] -- <command with {port} and {upstream}>');
  process.exit(2);
}

const mock = await createMockUpstream();
mock.route('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a', 'b'] }), eventDelayMs: 600_000 });
const dir = mkdtempSync(join(tmpdir(), 'tollgate-heap-'));
const port = await freePort();
const argv = positionals.map((a) => a.replaceAll('{port}', String(port)).replaceAll('{upstream}', mock.url));
if (argv[0] === 'node') argv.splice(0, 1, process.execPath, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`);
const target = spawn(argv[0], argv.slice(1), {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: 'sk-ant-heap', TOLLGATE_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'info' },
});
const url = `http://127.0.0.1:${port}${opts.bare ? '' : '/anthropic'}/v1/messages`;
try {
  for (let i = 0; ; i++) {
    try {
      await request(`http://127.0.0.1:${port}/`);
      break;
    } catch (err) {
      if (i > 100) throw err;
      await sleep(100);
    }
  }
  const idle = await snapshot();
  const agent = new Agent({ connections: Number(opts.streams) * 2 });
  const body = requestBody({ stream: true });
  // Each stream is held open: its first bytes are read, then its body is paused, not destroyed.
  const open = Array.from({ length: Number(opts.streams) }, () =>
    request(url, { method: 'POST', headers: CLIENT_HEADERS, body, dispatcher: agent }).then(
      (r) => new Promise((ok) => r.body.once('data', () => ok(r.body.pause()))),
    ),
  );
  await Promise.all(open);
  const held = await snapshot();
  report(aggregate(idle), aggregate(held), Number(opts.streams));
} finally {
  target.kill('SIGKILL');
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);

async function snapshot() {
  const before = new Set(readdirSync(dir));
  process.kill(target.pid, 'SIGUSR2');
  for (;;) {
    await sleep(200);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    // The target writes the snapshot on its main thread: once it answers again, the file is whole.
    await request(`http://127.0.0.1:${port}/`);
    return join(dir, file);
  }
}

/** Self size and count per "type:constructor" (strings, code, closures grouped). */
function aggregate(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'));
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [it, iname, isize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const by = new Map();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const type = types[s.nodes[i + it]];
    const name = /string/.test(type) ? '' : ['code', 'closure', 'number'].includes(type) ? '' : s.strings[s.nodes[i + iname]].slice(0, 50);
    const key = `${type}:${name}`;
    const v = by.get(key) ?? { bytes: 0, count: 0 };
    v.bytes += s.nodes[i + isize];
    v.count++;
    by.set(key, v);
    total += s.nodes[i + isize];
  }
  return { by, total };
}

function report(a, b, streams) {
  const per = (bytes) => `${(bytes / streams).toFixed(0)} B/stream`;
  console.log(`heap ${(a.total / 1048576).toFixed(1)} MB idle, ${(b.total / 1048576).toFixed(1)} MB with ${streams} streams: ${per(b.total - a.total)}`);
  const rows = [...new Set([...a.by.keys(), ...b.by.keys()])]
    .map((k) => ({ k, bytes: (b.by.get(k)?.bytes ?? 0) - (a.by.get(k)?.bytes ?? 0), count: (b.by.get(k)?.count ?? 0) - (a.by.get(k)?.count ?? 0) }))
    .sort((x, y) => y.bytes - x.bytes);
  for (const r of rows.slice(0, Number(opts.top))) console.log(`${per(r.bytes).padStart(14)} ${(r.count / streams).toFixed(1).padStart(6)}/stream  ${r.k}`);
}
