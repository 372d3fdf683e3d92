#!/usr/bin/env node
// The spend ledger at scale (issue 18): seeds a synthetic ledger (default 10 million rows over
// 90 days, 5,000 keys, 50,000 end users each of one key, 200 tags) into SQLite and PostgreSQL,
// builds the daily rollups from it, then measures what reports cost on it (the query layer
// the /spend/* routes run, p50/p95 of repeated calls), the bytes a row takes on disk, and the
// writer's sustained rows/s into it (500-row batches, one at a time as the gateway writes
// them: with rollups, and rows alone; and from a backlog, as a SpendWriter that is behind writes
// it, up to ledger.maxBatchSize rows a transaction). Needs `pnpm exec tsc -b` first (it loads dist/) and the
// test PostgreSQL.
//   node bench/ledger-scale.mjs [--rows 10000000] [--store sqlite|postgres|both] [--label L] [--write-rows 200000] [--keep]
//     [--seed-only] [--reuse FILE-OR-SCHEMA]
// --seed-only seeds and builds the rollups, keeps the database and stops; --reuse measures a
// database a --seed-only run left (migrations added since then run first, as on an upgrade).
// Writes bench/results/<date>-ledger-scale[-label].{json,md}.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requestId } from '../packages/core/dist/request-id.js';
import { createStorage } from '../packages/storage/dist/storage.js';
import { sql } from '../packages/storage/dist/index.js';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../packages/plugin-cost/dist/ledger-store.js';
import { DAY_MS, dayOf, rebuildStatements } from '../packages/plugin-cost/dist/ledger-rollups.js';
import { ensurePartitions } from '../packages/plugin-cost/dist/ledger-partitions.js';
import { SpendQueries } from '../packages/plugin-cost/dist/spend-queries.js';
import { SpendWriter } from '../packages/plugin-cost/dist/spend-writer.js';
import { costConfigSchema } from '../packages/plugin-cost/dist/cost-config.js';
import { createLogger } from '../packages/core/dist/index.js';

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    store: { type: 'string', default: 'both' },
    label: { type: 'string' },
    'write-rows': { type: 'string', default: '200000' },
    // Leaves the seeded database (SQLite file, PostgreSQL schema) for EXPLAIN; its place is logged.
    keep: { type: 'boolean', default: false },
    'seed-only': { type: 'boolean', default: false },
    reuse: { type: 'string' },
    // PostgreSQL: transactions a write is split over (ledger.writeConnections; default: its default).
    'write-connections': { type: 'string' },
  },
});
const N = Number(opts.rows);
const DAYS = 90;
const KEYS = 5000;
const END_USERS = 50_000;
const TAGS = 200;
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const today = dayOf(Date.now());
const T0 = (today - DAYS + 1) * DAY_MS;
const SPAN = DAYS * DAY_MS;

const ROLLUP_TABLES = ['tollgate_spend_daily', 'tollgate_spend_daily_keys', 'tollgate_spend_daily_models', 'tollgate_spend_daily_users', 'tollgate_spend_daily_teams', 'tollgate_spend_daily_end_users', 'tollgate_spend_daily_tags', 'tollgate_spend_weekly_keys'];
/** Key k's hash as the seed writes it: 64 characters, as long as the SHA-256 hex the gateway stores. */
const keyHash = (k) => String(k % KEYS).padStart(64, '0');
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);
const since = (t) => Math.round(performance.now() - t);

/**
 * The synthetic rows of day `d` (of DAYS), generated inside the database from a counter i:
 * time-ordered over the 90 days, end user e = i*7919 mod 50,000 belonging to key e mod 5,000,
 * and each key to one alias, user (of 500) and team (of 50), as a real key is; three models
 * in turn, one tag (a second on every fifth row), 2 % errors, token counts and spend that vary
 * with i. Ids are as long as the gateway's: a 36-character time-ordered request id, the
 * upstream's request and message ids, a 64-character key hash.
 */
function seedSql(driver, d) {
  const pg = driver === 'postgres';
  const [lo, hi] = [Math.floor((d * N) / DAYS), Math.floor(((d + 1) * N) / DAYS) - 1];
  const s = (x) => (pg ? `(${x})::text` : `cast(${x} as text)`);
  const pad = (x, n) => (pg ? `lpad((${x})::text, ${n}, '0')` : `printf('%0${n}d', ${x})`);
  const eu = `((i * 7919) % ${END_USERS})`;
  const key = `(${eu} % ${KEYS})`;
  const t = `(${T0} + (i * ${SPAN}) / ${N})`;
  const tags = `case when i % 5 = 0 then '["t' || (i % ${TAGS}) || '","t' || ((i / 5) % ${TAGS}) || '"]' else '["t' || (i % ${TAGS}) || '"]' end`;
  const cols = `request_id, upstream_request_id, message_id, call_type, model, api_key, key_alias, user_id, team_id, end_user, request_tags, status,
    prompt_tokens, completion_tokens, input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens,
    cache_creation_5m_tokens, cache_creation_1h_tokens, web_search_requests, service_tier, spend, unpriced, stream, aborted,
    start_time, end_time, completion_start_time, billing`;
  const requestId = `${pad(t, 13)} || '-' || ${pad('i', 22)}`;
  const select = `select ${requestId}, 'req_' || ${pad('i', 24)}, 'msg_' || ${pad('i', 24)}, 'messages',
      case i % 3 when 0 then 'claude-sonnet-4-6' when 1 then 'claude-haiku-4-5' else 'claude-opus-4-6' end,
      ${pad(key, 64)}, 'alias-' || ${s(key)}, 'u' || ${s(`${key} % 500`)}, 't' || ${s(`${key} % 50`)},
      'e' || ${s(eu)}, ${tags}, case when i % 50 = 0 then 529 else 200 end,
      1000 + i % 5000, 100 + i % 900, 800 + i % 4000, 100 + i % 900, 200 + i % 1000, 0, 0, 0, 0, 'standard',
      (1000 + i % 5000) * 3000000 + (100 + i % 900) * 15000000, 0, i % 2, 0,
      ${t}, ${t} + 900, ${t} + 300, 'gateway'`;
  const series = pg ? `from generate_series(${lo}::bigint, ${hi}::bigint) as g(i)` : `from n`;
  const cte = pg ? '' : `with recursive n(i) as (select ${lo} union all select i + 1 from n where i < ${hi}) `;
  const tagSelect = `select ${requestId}, 't' || ${s(`i % ${TAGS}`)}, ${t}`;
  const tagSecond = `select ${requestId}, 't' || ${s(`(i / 5) % ${TAGS}`)}, ${t}`;
  return [
    `${cte}insert into tollgate_spend_logs (${cols}) ${select} ${series}`,
    `${cte}insert into tollgate_spend_tags (request_id, tag, start_time) ${tagSelect} ${series}`,
    // The second tag, where it differs from the first.
    `${cte}insert into tollgate_spend_tags (request_id, tag, start_time) ${tagSecond} ${series} where i % 5 = 0 and (i / 5) % ${TAGS} <> i % ${TAGS}`,
  ];
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), max: +s[s.length - 1].toFixed(1) };
}

async function timed(times, fn) {
  const ms = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return stats(ms);
}

async function bytes(storage, table) {
  if (storage.driver === 'sqlite') {
    const r = await sql`select sum(pgsize) as b from dbstat where name = ${table} or name in (select name from sqlite_master where tbl_name = ${table} and type = 'index')`.execute(storage.db);
    return Number(r.rows[0].b ?? 0);
  }
  const r = await sql`select coalesce(sum(pg_total_relation_size(c.oid)), 0) as b from pg_class c
    where c.oid = to_regclass(${table}) or c.oid in (select inhrelid from pg_inherits where inhparent = to_regclass(${table}))`.execute(storage.db);
  return Number(r.rows[0].b);
}

const MODELS = ['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-6'];

/** A row as the gateway queues it, of the same keys, users, models and tags as the seed. */
function writeRow(i, t) {
  const e = (i * 7919) % END_USERS;
  const k = e % KEYS;
  return {
    request_id: requestId(t), upstream_request_id: `req_${String(i).padStart(24, '0')}`, message_id: `msg_${String(i).padStart(24, '0')}`, call_type: 'messages', model: MODELS[i % 3],
    api_key: keyHash(k), key_alias: `alias-${k}`, user_id: `u${k % 500}`, team_id: `t${k % 50}`, end_user: `e${e}`,
    request_tags: [`t${i % TAGS}`], status: 200, prompt_tokens: 1200, completion_tokens: 300, input_tokens: 1000, output_tokens: 300,
    cache_read_input_tokens: 200, cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
    service_tier: 'standard', inference_geo: null, speed: null, spend: 7_560_000_000n, unpriced: false, stream: true, aborted: false,
    batch_id: null, start_time: t, end_time: t + 900, completion_start_time: t + 300,
    session_id: null, agent_id: null, client: null, billing: 'gateway', served_model: null, estimated: false, upstream: null, budget_exempt: false,
  };
}

async function runStore(driver) {
  const reuse = opts.reuse;
  if (reuse !== undefined || opts['seed-only']) opts.keep = true;
  const dir = reuse !== undefined && driver === 'sqlite' ? join(reuse, '..') : mkdtempSync(join(tmpdir(), 'tg-ledger-scale-'));
  const schema = reuse !== undefined && driver === 'postgres' ? reuse : `tg_bench_${Date.now().toString(36)}`;
  // No statement timeout: a seeding or rebuilding statement may take minutes. Reports run as the gateway runs them.
  const storage = await createStorage(driver === 'sqlite' ? { url: `file:${join(dir, 'ledger.db')}`, dataDir: dir } : { url: PG_URL, schema, dataDir: dir, queryTimeoutMs: 0 });
  const out = { driver, rows: N };
  try {
    if (reuse === undefined) await seed(storage, driver, out);
    else {
      log(driver, 'reusing', reuse, '; running new migrations');
      const t = performance.now();
      await storage.migrate('cost', ledgerMigrations);
      out.upgradeMs = since(t);
      if (driver === 'postgres') await sql.raw(`vacuum (analyze) ${ROLLUP_TABLES.join(', ')}`).execute(storage.db);
    }
    if (opts['seed-only']) return out;
    await measure(storage, driver, out);
  } finally {
    if (opts.keep) log(driver, 'kept', driver === 'postgres' ? `schema ${schema}` : join(dir, 'ledger.db'));
    else if (driver === 'postgres') await sql`drop schema ${sql.id(schema)} cascade`.execute(storage.db).catch(() => undefined);
    await storage.close();
    // A kept PostgreSQL database is its schema: its data directory holds nothing.
    if (!opts.keep || driver === 'postgres') rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function seed(storage, driver, out) {
    await storage.migrate('cost', ledgerMigrations);
    if (driver === 'postgres') await ensurePartitions(storage.db, Array.from({ length: DAYS + 1 }, (_, i) => dayOf(T0) + i));
    log(driver, 'seeding', N, 'rows');
    let t = performance.now();
    // SQLite seeds with a large page cache (the key index takes rows at every key), then goes
    // back to the gateway's own 2 MB for the measurements.
    if (driver === 'sqlite') await sql`pragma cache_size = -1000000`.execute(storage.db);
    for (let d = 0; d < DAYS; d++) {
      await storage.db.transaction().execute(async (tx) => {
        for (const statement of seedSql(driver, d)) await sql.raw(statement).execute(tx);
      });
      if (d % 10 === 9) log(driver, 'seeded day', d + 1, 'of', DAYS);
    }
    out.seedMs = since(t);
    // This schema's tables only: a bare ANALYZE would take every schema in the database.
    if (driver === 'postgres') await sql`analyze tollgate_spend_logs, tollgate_spend_tags`.execute(storage.db);
    log(driver, 'seeded in', out.seedMs, 'ms; building rollups');
    t = performance.now();
    await storage.db.transaction().execute(async (tx) => {
      for (const s of rebuildStatements()) await s.execute(tx);
    });
    out.rebuildRollupsMs = since(t);
    if (driver === 'sqlite') await sql`pragma cache_size = -2000`.execute(storage.db);
    // A real ledger's past days were vacuumed long ago: vacuumed now, the bulk load leaves
    // autovacuum nothing to do while reports are timed. SQLite has statistics only if someone
    // runs ANALYZE, which the gateway does not: its plans must hold without them.
    if (driver === 'postgres') await sql.raw(`vacuum (analyze) tollgate_spend_logs, tollgate_spend_tags, tollgate_key_spend, ${ROLLUP_TABLES.join(', ')}`).execute(storage.db);
}

async function measure(storage, driver, out) {
    const counts = {};
    for (const table of ROLLUP_TABLES) {
      counts[table] = Number((await sql`select count(*) as n from ${sql.table(table)}`.execute(storage.db)).rows[0].n);
    }
    out.rollupRows = counts;
    const logsBytes = await bytes(storage, 'tollgate_spend_logs');
    const tagsBytes = await bytes(storage, 'tollgate_spend_tags');
    let rollupBytes = 0;
    for (const table of Object.keys(counts)) rollupBytes += await bytes(storage, table);
    out.bytesPerRow = { logs: Math.round(logsBytes / N), tags: Math.round(tagsBytes / N), rollupsTotal: rollupBytes };
    out.bytesPerMillionRequests = { rowsAndTags: Math.round(((logsBytes + tagsBytes) / N) * 1e6), rollups: Math.round((rollupBytes / N) * 1e6) };
    log(driver, 'rollup rows', counts, out.bytesPerRow);

    const ledgerDefaults = costConfigSchema.properties.ledger.properties;
    const connections = Number(opts['write-connections'] ?? ledgerDefaults.writeConnections.default);
    out.writeConnections = connections;
    const store = new LedgerStore(storage, { rows: 'all', rollups: true }, connections);
    const queries = new SpendQueries(store.db, store.shape);
    const last30 = { from: (today - 29) * DAY_MS };
    out.queries = {};
    for (const groupBy of ['tag', 'key', 'model', 'user', 'team']) out.queries[`report ${groupBy} 30d`] = await timed(20, () => queries.report(groupBy, last30));
    // 30 days × 50,000 end users of rollup rows: seconds, and not one of the issue's targets.
    out.queries['report end_user 30d'] = await timed(5, () => queries.report('end_user', last30));
    out.queries['report model 30d, one key'] = await timed(20, (i) => queries.report('model', { ...last30, apiKey: keyHash(i * 37) }));
    out.queries['report key 30d, part-day edges from rows'] = await timed(8, () => queries.report('key', { from: last30.from + 3_600_000, to: Date.now() }));
    out.queries['customer/info'] = await timed(60, (i) => queries.endUser(`e${(i * 7907) % END_USERS}`));
    // What budgets read from the database: every key's total once at start (RunningTotals.load),
    // and on PostgreSQL the keys' spend that all replicas committed (a budget asks for one key).
    out.queries['budget: key totals loaded at start'] = await timed(5, () => store.totalsBy('api_key'));
    out.queries['totals of every dimension (key, user, team, end user, tag)'] = await timed(1, async () => {
      for (const d of ['api_key', 'user_id', 'team_id', 'end_user', 'tag']) await store.totalsBy(d);
    });
    if (driver === 'postgres') {
      const keys = (i, n) => Array.from({ length: n }, (_, j) => keyHash(i * n + j));
      const rowsOff = new LedgerStore(storage, { rows: 'none', rollups: true });
      out.queries['budget: shared key spend, 1 key'] = await timed(60, (i) => store.sharedKeySpend(keys(i, 1)));
      out.queries['budget: shared key spend, 100 keys'] = await timed(30, (i) => store.sharedKeySpend(keys(i, 100)));
      out.queries['budget: shared key spend from rollups, 1 key'] = await timed(60, (i) => rowsOff.sharedKeySpend(keys(i, 1)));
      out.queries['budget: shared key spend from rollups, 100 keys'] = await timed(30, (i) => rowsOff.sharedKeySpend(keys(i, 100)));
    }
    for (const [name, s] of Object.entries(out.queries)) log(driver, name, s);

    // The writer's sustained rate: 500-row batches, one at a time, as the SpendWriter writes,
    // into today (whose rollup rows the seed made): with rollups, then the rows alone.
    const W = Number(opts['write-rows']);
    const write = async (into, first, size = 500) => {
      const now = Date.now();
      const batches = [];
      for (let i = first; i < first + W; i += size) batches.push(ledgerBatch(Array.from({ length: Math.min(size, first + W - i) }, (_, j) => writeRow(i + j, now + i - first + j))));
      const t0 = performance.now();
      for (const b of batches) await into.insert(b);
      return Math.round(W / ((performance.now() - t0) / 1000));
    };
    out.writerRowsPerSecond = await write(store, 0);
    log(driver, 'writer', out.writerRowsPerSecond, 'rows/s');
    out.writerRowsOnlyRowsPerSecond = await write(new LedgerStore(storage, { rows: 'all', rollups: false }, connections), W);
    log(driver, 'writer, rows alone', out.writerRowsOnlyRowsPerSecond, 'rows/s');
    // Larger batches (ledger.batchSize takes up to 5000): what each write's fixed costs take.
    out.writerRowsPerSecond2000 = await write(store, 2 * W, 2000);
    log(driver, 'writer, 2000-row batches', out.writerRowsPerSecond2000, 'rows/s');
    // Sustained, as the gateway writes when it is behind: W rows wait in a SpendWriter with the
    // ledger's default batchSize and maxBatchSize (500, 2000), which then writes up to
    // maxBatchSize rows a transaction until the backlog is gone (flush): with rollups, and rows alone.
    const backlog = async (into, first) => {
      const spoolDir = mkdtempSync(join(tmpdir(), 'tg-ledger-scale-spool-'));
      const writer = new SpendWriter({
        write: (b) => into.insert(b),
        spoolFile: join(spoolDir, 'spool.jsonl'),
        log: createLogger({ level: 'silent', destination: { write: () => {} } }),
        flushIntervalMs: ledgerDefaults.flushIntervalMs.default,
        batchSize: ledgerDefaults.batchSize.default,
        maxBatchSize: ledgerDefaults.maxBatchSize.default,
        maxRetryMs: 1000,
        writeTimeoutMs: 600_000,
        maxQueuedRows: W + 1,
      });
      const now = Date.now();
      for (let i = first; i < first + W; i++) writer.enqueue(writeRow(i, now + i - first));
      const t0 = performance.now();
      await writer.flush();
      const rate = Math.round(W / ((performance.now() - t0) / 1000));
      const state = writer.state();
      await writer.close();
      rmSync(spoolDir, { recursive: true, force: true });
      if (state.queued !== 0 || state.spooled !== 0) throw new Error(`the backlog writer did not write every row: ${JSON.stringify(state)}`);
      return rate;
    };
    out.writerBacklogRowsPerSecond = await backlog(store, 3 * W);
    out.writerBacklogBatch = { batchSize: ledgerDefaults.batchSize.default, maxBatchSize: ledgerDefaults.maxBatchSize.default };
    log(driver, 'writer with a backlog', out.writerBacklogRowsPerSecond, 'rows/s');
    out.writerRowsOnlyBacklogRowsPerSecond = await backlog(new LedgerStore(storage, { rows: 'all', rollups: false }, connections), 4 * W);
    log(driver, 'writer with a backlog, rows alone', out.writerRowsOnlyBacklogRowsPerSecond, 'rows/s');
}

const stores = opts.store === 'both' ? ['sqlite', 'postgres'] : [opts.store];
const results = [];
for (const s of stores) results.push(await runStore(s));
if (opts['seed-only']) process.exit(0);
const date = new Date().toISOString().slice(0, 10);
const name = `${date}-ledger-scale${opts.label ? `-${opts.label}` : ''}`;
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL(`./results/${name}.json`, import.meta.url), JSON.stringify(results, null, 2));
const command = ['node bench/ledger-scale.mjs', ...process.argv.slice(2)].join(' ');
const md = [`# Ledger at scale: ${N.toLocaleString('en')} rows, ${DAYS} days, ${KEYS} keys, ${END_USERS} end users, ${TAGS} tags`, '', `\`${command}\` (${new Date().toISOString()})`, ''];
for (const r of results) {
  const made = r.seedMs === undefined ? `a database seeded earlier (--seed-only), migrations since then run in ${r.upgradeMs} ms` : `seeded in ${r.seedMs} ms; rollups built from the rows in ${r.rebuildRollupsMs} ms`;
  md.push(`## ${r.driver}`, '', `- ${made}: ${JSON.stringify(r.rollupRows)}`);
  md.push(`- bytes per row on disk (with indexes): ledger ${r.bytesPerRow.logs}, tags ${r.bytesPerRow.tags}; per million requests ${(r.bytesPerMillionRequests.rowsAndTags / 2 ** 20).toFixed(0)} MiB of rows and tags, ${(r.bytesPerMillionRequests.rollups / 2 ** 20).toFixed(1)} MiB of rollups (${(r.bytesPerRow.rollupsTotal / 2 ** 20).toFixed(1)} MiB in all, which grows with days × keys, not with requests)`);
  md.push(`- writer${r.driver === 'postgres' ? ` (each write split over up to ${r.writeConnections} transactions at once, ledger.writeConnections)` : ''}, 500-row batches: ${r.writerRowsPerSecond} rows/s with rollups (the default), ${r.writerRowsOnlyRowsPerSecond} rows/s rows alone (ledger.rollups: false); ${r.writerRowsPerSecond2000} rows/s with rollups in 2000-row batches${r.writerBacklogRowsPerSecond === undefined ? '' : `; **${r.writerBacklogRowsPerSecond} rows/s with rollups from a backlog** (a SpendWriter with batchSize ${r.writerBacklogBatch.batchSize}, maxBatchSize ${r.writerBacklogBatch.maxBatchSize}, ${Number(opts['write-rows']).toLocaleString('en')} rows queued, then flushed), ${r.writerRowsOnlyBacklogRowsPerSecond} rows/s rows alone from a backlog`}`, '', '| query | n | p50 ms | p95 ms | max ms |', '|:--|--:|--:|--:|--:|');
  for (const [q, s] of Object.entries(r.queries)) md.push(`| ${q} | ${s.n} | ${s.p50} | ${s.p95} | ${s.max} |`);
  md.push('');
}
writeFileSync(new URL(`./results/${name}.md`, import.meta.url), md.join('\n'));
console.log(md.join('\n'));
