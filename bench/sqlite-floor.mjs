#!/usr/bin/env node
// What one spend-ledger row costs SQLite on this machine, apart from the gateway: the ledger's
// own schema (its migrations), its pragmas, rows like the benchmark's, written in transactions
// of 500 as the writer thread does. Four ways, CPU µs per row (user + system, this process):
//   encode      the main thread's part: rows encoded and queued (LedgerQueue), then taken
//   writer      the writer thread's part: JSON.parse of a batch, one prepared INSERT per row
//   sql-only    no JavaScript per row at all: the same rows generated inside SQLite
//               (INSERT … SELECT from a recursive CTE), the floor any JS writer sits on
//   *-noindex   the same after dropping the ledger's secondary indexes (primary key kept)
// Needs `pnpm exec tsc -b` first (it loads dist/). Not a gateway benchmark: run it to see what
// the ledger row alone costs, against the CPU the throughput budget leaves.
//   node bench/sqlite-floor.mjs [--rows 200000]
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requestId } from '../packages/core/dist/request-id.js';
import { SQLITE_PRAGMAS } from '../packages/storage/dist/background-writer.js';
import { createStorage } from '../packages/storage/dist/storage.js';
import { LOG_COLUMNS as LOG_ORDER, LedgerQueue, ledgerMigrations } from '../packages/plugin-cost/dist/ledger-store.js';

const Database = createRequire(new URL('../packages/storage/package.json', import.meta.url))('better-sqlite3');
const { values: opts } = parseArgs({ options: { rows: { type: 'string', default: '200000' } } });
const N = Number(opts.rows);
const BATCH = 500;
const KEY_HASH = 'a3f1c9e2b4d6a8f0c1e3b5d7a9f1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7';

/** A ledger row as the benchmark's requests make them (master key swapped for a key hash). */
function row(i, t) {
  return {
    request_id: requestId(t),
    upstream_request_id: `req_011CV${String(i).padStart(18, '0')}`,
    message_id: `msg_01XFDUDYJgAACzvnptvVoYEL${i}`,
    call_type: 'messages',
    model: 'claude-sonnet-4-5-20250929',
    api_key: KEY_HASH,
    key_alias: 'bench',
    user_id: 'bench-user',
    team_id: null,
    end_user: null,
    request_tags: [],
    status: 200,
    prompt_tokens: 25,
    completion_tokens: 12,
    input_tokens: 25,
    output_tokens: 12,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
    cache_creation_5m_tokens: 0,
    cache_creation_1h_tokens: 0,
    web_search_requests: 0,
    service_tier: 'standard',
    inference_geo: null,
    speed: null,
    spend: 255_000_000n,
    unpriced: false,
    stream: false,
    aborted: false,
    batch_id: null,
    start_time: t,
    end_time: t + 2,
    completion_start_time: t + 1,
    session_id: null,
    agent_id: null,
    client: null,
    billing: 'gateway',
    served_model: null,
    estimated: false,
    upstream: null,
  };
}

const cpuUs = (since) => {
  const c = process.cpuUsage(since);
  return { total: c.user + c.system, system: c.system };
};

async function freshLedger(dir, name) {
  const file = join(dir, `${name}.sqlite`);
  const storage = await createStorage({ url: `file:${file}`, dataDir: dir });
  await storage.migrate('cost', ledgerMigrations);
  await storage.close();
  const db = new Database(file);
  for (const p of SQLITE_PRAGMAS) db.pragma(p);
  return db;
}

function dropSecondaryIndexes(db) {
  const names = db.prepare(`select name from sqlite_master where type = 'index' and tbl_name = 'tollgate_spend_logs' and sql is not null`).pluck().all();
  for (const n of names) db.exec(`drop index ${n}`);
  return names.length;
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-sqlite-floor-'));
const results = [];
try {
  const t0 = Date.now();
  const rows = Array.from({ length: N }, (_, i) => row(i, t0 + Math.floor(i / 25)));

  // encode: what the request path pays per row (LedgerQueue.push), plus taking batches off.
  const queue = new LedgerQueue();
  const batches = [];
  let since = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    queue.push(rows[i]);
    if (queue.length === BATCH) batches.push(queue.take(BATCH));
  }
  if (queue.length > 0) batches.push(queue.take(queue.length));
  results.push({ what: 'encode (main thread)', ...cpuUs(since) });
  const columns = JSON.parse(Buffer.from(batches[0].logs).toString('utf8'))[0].length;

  for (const noindex of [false, true]) {
    const suffix = noindex ? '-noindex' : '';
    // writer: the writer thread's loop (sqlite-worker.mjs), here on this thread.
    const db = await freshLedger(dir, `writer${suffix}`);
    if (noindex) dropSecondaryIndexes(db);
    const cols = db.prepare(`select name from pragma_table_info('tollgate_spend_logs') order by cid`).pluck().all();
    const insert = db.prepare(
      `insert into tollgate_spend_logs (${LOG_ORDER.join(', ')}) values (${LOG_ORDER.map(() => '?').join(', ')}) on conflict (request_id) do nothing`,
    );
    if (cols.length !== columns) throw new Error(`the ledger has ${cols.length} columns, the encoded rows ${columns}`);
    const write = db.transaction((bytes) => {
      for (const values of JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))) insert.run(values);
    });
    since = process.cpuUsage();
    for (const b of batches) write(b.logs);
    results.push({ what: `writer${suffix}`, ...cpuUs(since) });
    const written = db.prepare('select count(*) from tollgate_spend_logs').pluck().get();
    if (written !== N) throw new Error(`wrote ${written} rows, expected ${N}`);
    db.close();

    // sql-only: the same values made by SQLite itself, BATCH rows per statement.
    const floor = await freshLedger(dir, `sql-only${suffix}`);
    if (noindex) dropSecondaryIndexes(floor);
    const generated = floor.prepare(`
      with recursive g(i) as (select @from union all select i + 1 from g where i < @to)
      insert into tollgate_spend_logs (${LOG_ORDER.join(', ')})
      select printf('%08x-%04x-7%s', @t0 + i / 25, i % 65536, substr(lower(hex(randomblob(11))), 1, 21)),
        printf('req_011CV%018d', i), 'msg_01XFDUDYJgAACzvnptvVoYEL' || i, 'messages', 'claude-sonnet-4-5-20250929',
        '${KEY_HASH}', 'bench', 'bench-user', null, null, '[]', 200, 25, 12, 25, 12, 0, 0, 0, 0, 0, 'standard', null, null,
        255000000, 0, 0, 0, null, @t0 + i / 25, @t0 + i / 25 + 2, @t0 + i / 25 + 1
      from g where true on conflict (request_id) do nothing`);
    const fill = floor.transaction((from) => generated.run({ from, to: Math.min(from + BATCH, N) - 1, t0 }));
    since = process.cpuUsage();
    for (let from = 0; from < N; from += BATCH) fill(from);
    results.push({ what: `sql-only${suffix}`, ...cpuUs(since) });
    const made = floor.prepare('select count(*) from tollgate_spend_logs').pluck().get();
    if (made !== N) throw new Error(`generated ${made} rows, expected ${N}`);
    floor.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`${N} ledger rows, ${BATCH} per transaction, pragmas: ${SQLITE_PRAGMAS.join('; ')}`);
console.log('| what | CPU µs/row | of which system |');
console.log('|:---|---:|---:|');
for (const r of results) console.log(`| ${r.what} | ${(r.total / N).toFixed(2)} | ${(r.system / N).toFixed(2)} |`);
