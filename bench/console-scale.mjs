#!/usr/bin/env node
// The operator console on a large ledger (issue 19): seeds a synthetic ledger (default 1 million
// rows over 90 days, 5,000 keys, 50,000 end users, 200 tags; the approach of ledger-scale.mjs)
// and 5,000 virtual keys into SQLite and PostgreSQL, starts a real gateway with the console on
// it, signs in with the master key and times every call the overview, keys and request-log
// pages make, through /ui/api/… as the page makes them (p50/p95 of repeated calls), then the
// pages themselves in headless Chromium: from navigation to the last number on screen.
// Needs `pnpm exec tsc -b` first (it loads dist/), the test PostgreSQL, and Debian's chromium.
//   node bench/console-scale.mjs [--rows 1000000] [--store sqlite|postgres|both] [--tries 10] [--out FILE]
// Writes bench/results/<date>-console-scale.md (or --out).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGateway } from '../packages/core/dist/index.js';
import { createStorage } from '../packages/storage/dist/storage.js';
import { sql } from '../packages/storage/dist/index.js';
import { ledgerMigrations } from '../packages/plugin-cost/dist/ledger-store.js';
import { DAY_MS, dayOf, rebuildStatements } from '../packages/plugin-cost/dist/ledger-rollups.js';
import { ensurePartitions } from '../packages/plugin-cost/dist/ledger-partitions.js';

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    store: { type: 'string', default: 'both' },
    tries: { type: 'string', default: '10' },
    out: { type: 'string' },
  },
});
const N = Number(opts.rows);
const TRIES = Number(opts.tries);
const DAYS = 90;
const KEYS = 5000;
const END_USERS = 50_000;
const TAGS = 200;
const MASTER_KEY = 'sk-master-console-bench';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const today = dayOf(Date.now());
const T0 = (today - DAYS + 1) * DAY_MS;
const SPAN = DAYS * DAY_MS;
const isoDay = (day) => new Date(day * DAY_MS).toISOString().slice(0, 10);

const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);
const since = (t) => Math.round(performance.now() - t);

/** A key's token as the auth plugin stores it (64 hex digits), from its number. */
const token = (n) => String(n).padStart(64, '0');
const VK_SECRET = 'sk-console-bench-virtual-key';
const VK_TOKEN = createHash('sha256').update(VK_SECRET).digest('hex');
const VK_NUMBER = 1234;
const VACUUMED = ['tollgate_spend_logs', 'tollgate_spend_tags', 'tollgate_spend_daily', 'tollgate_spend_daily_keys', 'tollgate_spend_daily_models', 'tollgate_spend_daily_users', 'tollgate_spend_daily_teams', 'tollgate_spend_daily_end_users', 'tollgate_spend_daily_tags', 'tollgate_keys'];

/**
 * The synthetic rows, generated inside the database from a counter i, as ledger-scale.mjs
 * makes them: time-ordered over the 90 days, end user e = i*7919 mod 50,000 belonging to key
 * e mod 5,000, three models (and a rare fourth on one row in 1,000), one tag (a second on
 * every fifth row), 2 % errors. Keys are 64-hex tokens here, so the log's key filter finds them.
 */
function seedSql(driver) {
  const pg = driver === 'postgres';
  const s = (x) => (pg ? `(${x})::text` : `cast(${x} as text)`);
  const tok = (x) => (pg ? `lpad((${x})::text, 64, '0')` : `printf('%064d', ${x})`);
  const eu = `((i * 7919) % ${END_USERS})`;
  const tags = `case when i % 5 = 0 then '["t' || (i % ${TAGS}) || '","t' || ((i / 5) % ${TAGS}) || '"]' else '["t' || (i % ${TAGS}) || '"]' end`;
  const cols = `request_id, call_type, model, api_key, key_alias, user_id, team_id, end_user, request_tags, status,
    prompt_tokens, completion_tokens, input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens,
    cache_creation_5m_tokens, cache_creation_1h_tokens, web_search_requests, service_tier, spend, unpriced, stream, aborted,
    start_time, end_time, completion_start_time`;
  const select = `select 'r' || ${s('i')}, 'messages',
      case when i % 1000 = 7 then 'claude-opus-4-1' else case i % 3 when 0 then 'claude-sonnet-4-6' when 1 then 'claude-haiku-4-5' else 'claude-opus-4-6' end end,
      ${tok(`${eu} % ${KEYS}`)}, 'alias-' || ${s(`${eu} % ${KEYS}`)}, 'u' || ${s(`${eu} % 500`)}, 't' || ${s(`${eu} % 50`)},
      'e' || ${s(eu)}, ${tags}, case when i % 50 = 0 then 529 else 200 end,
      1000 + i % 5000, 100 + i % 900, 800 + i % 4000, 100 + i % 900, 200 + i % 1000, 0, 0, 0, 0, 'standard',
      (1000 + i % 5000) * 3000000 + (100 + i % 900) * 15000000, 0, i % 2, 0,
      ${T0} + (i * ${SPAN}) / ${N}, ${T0} + (i * ${SPAN}) / ${N} + 900, ${T0} + (i * ${SPAN}) / ${N} + 300`;
  const series = pg ? `from generate_series(0::bigint, ${N - 1}::bigint) as g(i)` : `from n`;
  const cte = pg ? '' : `with recursive n(i) as (select 0 union all select i + 1 from n where i < ${N - 1}) `;
  const tagSelect = `select 'r' || ${s('i')}, 't' || ${s(`i % ${TAGS}`)}, ${T0} + (i * ${SPAN}) / ${N}`;
  const tagSecond = `select 'r' || ${s('i')}, 't' || ${s(`(i / 5) % ${TAGS}`)}, ${T0} + (i * ${SPAN}) / ${N}`;
  const keySeries = pg ? `from generate_series(0, ${KEYS - 1}) as g(i)` : `from k`;
  const keyCte = pg ? '' : `with recursive k(i) as (select 0 union all select i + 1 from k where i < ${KEYS - 1}) `;
  return [
    `${cte}insert into tollgate_spend_logs (${cols}) ${select} ${series}`,
    `${cte}insert into tollgate_spend_tags (request_id, tag, start_time) ${tagSelect} ${series}`,
    `${cte}insert into tollgate_spend_tags (request_id, tag, start_time) ${tagSecond} ${series} where i % 5 = 0 and (i / 5) % ${TAGS} <> i % ${TAGS}`,
    // The keys the rows belong to; every tenth has a budget.
    `${keyCte}insert into tollgate_keys (token, key_name, key_alias, user_id, team_id, max_budget, created_at, updated_at)
      select ${tok('i')}, 'sk-...' || ${s('i')}, 'alias-' || ${s('i')}, 'u' || ${s('i % 500')}, 't' || ${s('i % 50')},
        case when i % 10 = 0 then '1000' else null end, ${T0} + i, ${T0} + i ${keySeries}`,
  ];
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { n: s.length, p50: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), max: +s[s.length - 1].toFixed(1) };
}

async function seed(driver, storageOptions) {
  const storage = await createStorage(storageOptions);
  try {
    const { keyMigrations } = await import('../packages/plugin-auth/dist/key-store.js');
    await raced(() => storage.migrate('cost', ledgerMigrations));
    await raced(() => storage.migrate('auth', keyMigrations));
    if (driver === 'postgres') await ensurePartitions(storage.db, Array.from({ length: DAYS + 1 }, (_, i) => dayOf(T0) + i));
    log(driver, 'seeding', N, 'rows');
    let t = performance.now();
    for (const statement of seedSql(driver)) await sql.raw(statement).execute(storage.db);
    // One key whose secret the bench knows, to sign in with it (its rows are key 1234's).
    for (const table of ['tollgate_spend_logs', 'tollgate_keys']) {
      const column = table === 'tollgate_keys' ? 'token' : 'api_key';
      await sql`update ${sql.table(table)} set ${sql.ref(column)} = ${VK_TOKEN} where ${sql.ref(column)} = ${token(VK_NUMBER)}`.execute(storage.db);
    }
    log(driver, 'seeded in', since(t), 'ms; building rollups');
    t = performance.now();
    await storage.db.transaction().execute(async (tx) => {
      for (const s of rebuildStatements()) await s.execute(tx);
    });
    log(driver, 'rollups built in', since(t), 'ms');
    // A real ledger's past days were vacuumed long ago (as ledger-scale.mjs does): vacuumed now,
    // this schema's tables only, so index-only scans of the rollups see all-visible pages and
    // autovacuum of the bulk load does not run while calls are timed. SQLite has statistics only
    // if someone runs ANALYZE, which the gateway does not: its plans must hold without them.
    if (driver === 'postgres') await sql.raw(`vacuum (analyze) ${VACUUMED.join(', ')}`).execute(storage.db);
  } finally {
    await storage.close();
  }
}

/**
 * Kysely's migrator lists the tables of every schema in the database; on a PostgreSQL shared
 * with test runs, a schema dropped meanwhile fails that listing ("schema … does not exist").
 * Not this bench's schema: try again.
 */
async function raced(fn) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const gone = /schema "(\w+)" does not exist/.exec(String(err?.message))?.[1];
      if (attempt >= 5 || gone === undefined || gone.startsWith('tg_console_')) throw err;
      log('another schema went away under the migrator; again');
    }
  }
}

async function startGateway(storageConfig) {
  const mod = (path) => async () => (await import(path)).default;
  const gw = await createGateway({
    config: {
      server: { host: '127.0.0.1', port: 0 },
      providers: { anthropic: { baseUrl: 'http://127.0.0.1:9', apiKey: 'up' } },
      plugins: [
        { use: '@tollgate/storage', config: storageConfig },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
        { use: '@tollgate/plugin-cost' },
        { use: '@tollgate/plugin-console' },
      ],
    },
    modules: {
      '@tollgate/storage': mod('../packages/storage/dist/index.js'),
      '@tollgate/plugin-auth': mod('../packages/plugin-auth/dist/index.js'),
      '@tollgate/plugin-cost': mod('../packages/plugin-cost/dist/index.js'),
      '@tollgate/plugin-console': mod('../packages/plugin-console/dist/index.js'),
    },
    env: {},
    logDestination: { write: () => undefined },
  });
  await gw.listen();
  return gw;
}

/** The calls each page makes, as app.js makes them (the overview's default window: 30 days). */
function pageCalls() {
  const d30 = isoDay(today - 29);
  const mid = isoDay(today - 45);
  const report = (group) => [`overview: top ${group}, 30 days`, `/spend/report?group_by=${group}&start_date=${d30}&limit=5`];
  const logs = (label, query) => [`logs: ${label}`, `/spend/logs?${query}${query ? '&' : ''}page=1&page_size=50`];
  return [
    ['overview: spend per day, 30 days', `/spend/daily?start_date=${d30}`],
    ...['key', 'user', 'team', 'end_user', 'model', 'tag'].map(report),
    ['overview: spend per day, 90 days', `/spend/daily?start_date=${isoDay(today - 89)}`],
    [`overview: top end_user, 90 days`, `/spend/report?group_by=end_user&start_date=${isoDay(today - 89)}&limit=5`],
    ['overview: budgets (key list, 100)', '/key/list?return_full_object=true&size=100'],
    ['keys: page 1 of 25', '/key/list?return_full_object=true&size=25&page=1'],
    ['keys: page 100 of 25', '/key/list?return_full_object=true&size=25&page=100'],
    ['keys: search', '/key/list?return_full_object=true&size=25&page=1&search=alias-12'],
    logs('no filter', ''),
    logs('no filter, page 200', '').map((x, i) => (i === 1 ? x.replace('page=1&', 'page=200&') : x)),
    logs('key', `api_key=${token(4321)}`),
    logs('end user', 'end_user=e4321'),
    logs('model', 'model=claude-haiku-4-5'),
    logs('rare model (0.1 %)', 'model=claude-opus-4-1'),
    logs('model nobody used', 'model=claude-none'),
    logs('tag', 'tag=t17'),
    logs('status failed', 'status=error'),
    logs('status succeeded', 'status=ok'),
    logs('one day', `start_date=${mid}&end_date=${mid}`),
    logs('model + failed + one day', `model=claude-sonnet-4-6&status=error&start_date=${mid}&end_date=${mid}`),
    logs('end user + failed', 'end_user=e4300&status=error'),
    ['logs: one request (detail)', `/spend/logs?request_id=r${Math.floor(N / 2)}&page=1&page_size=1`],
  ];
}

/** What a virtual key's session calls: its overview (its own rows, the routes scope them) and its log. */
function virtualKeyCalls() {
  const d30 = isoDay(today - 29);
  return [
    ['virtual key: spend per day, 30 days', `/spend/daily?start_date=${d30}`],
    ...['key', 'user', 'team', 'end_user', 'model', 'tag'].map((g) => [`virtual key: top ${g}, 30 days`, `/spend/report?group_by=${g}&start_date=${d30}&limit=5`]),
    ['virtual key: key info', '/key/info'],
    ['virtual key: logs', '/spend/logs?page=1&page_size=50'],
    ['virtual key: logs, failed', '/spend/logs?status=error&page=1&page_size=50'],
  ];
}

async function signIn(url, key) {
  const res = await fetch(`${url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
  if (res.status !== 200) throw new Error(`sign-in: ${res.status}`);
  return res.headers.get('set-cookie').split(';')[0];
}

async function timeCalls(url, cookie, calls) {
  const out = {};
  for (const [name, path] of calls) {
    const ms = [];
    let body;
    for (let i = 0; i <= TRIES; i++) {
      const t = performance.now();
      const res = await fetch(`${url}/ui/api${path}`, { headers: { cookie } });
      body = await res.json();
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
      if (i > 0) ms.push(performance.now() - t); // the first call warms the caches
    }
    out[name] = { ...stats(ms), shows: summary(body) };
    log(name, out[name]);
  }
  return out;
}

function summary(body) {
  if (Array.isArray(body)) return `${body.length} rows`;
  if (body.data) return `${body.data.length} rows, total ${body.total}${body.total_is_lower_bound ? '+' : ''}`;
  if (body.keys) return `${body.keys.length} keys of ${body.total_count}`;
  return '';
}

/** Each page loaded afresh in Chromium, from navigation to its last number on screen. */
async function timePages(url) {
  const require = createRequire(new URL('../packages/plugin-console/package.json', import.meta.url));
  const { default: puppeteer } = await import(require.resolve('puppeteer-core'));
  const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const out = {};
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    await page.goto(`${url}/ui`);
    await page.waitForSelector('input[name=key]');
    await page.type('input[name=key]', MASTER_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('header');
    // Done when every section shows its data: the stats, the chart, six top-5 tables, budgets.
    const pages = {
      overview: ['#/overview', () => [...document.querySelectorAll('[data-top]')].filter((t) => t.querySelector('tr')).length === 6 && document.querySelector('.chart canvas') && document.querySelector('[data-stat=requests] b')?.textContent !== '0' && document.querySelector('[data-budgets] tr')],
      keys: ['#/keys', () => document.querySelectorAll('tr[data-key]').length === 25],
      requests: ['#/logs', () => document.querySelectorAll('tr[data-request]').length === 50 && /in all|\+/.test(document.querySelector('main p.row')?.textContent ?? '')],
    };
    for (const [name, [hash, done]] of Object.entries(pages)) {
      const ms = [];
      for (let i = 0; i <= TRIES; i++) {
        await page.goto('about:blank');
        await page.goto(`${url}/ui${hash}`);
        const handle = await page.waitForFunction(`(${done})() && performance.now()`, { polling: 'mutation', timeout: 60_000 });
        if (i > 0) ms.push(await handle.jsonValue());
      }
      out[name] = stats(ms);
      log('page', name, out[name]);
    }
  } finally {
    await browser.close();
  }
  return out;
}

async function runStore(driver) {
  const dir = mkdtempSync(join(tmpdir(), 'tg-console-scale-'));
  const schema = `tg_console_${Date.now().toString(36)}`;
  const storageConfig = driver === 'sqlite' ? { url: `file:${join(dir, 'ledger.db')}` } : { url: PG_URL, schema };
  const out = { driver, load: [loadavg()] };
  try {
    // Seeding a million rows takes longer than the 30 s a gateway's statement may.
    await seed(driver, { ...storageConfig, dataDir: dir, queryTimeoutMs: 0 });
    let t = performance.now();
    const gw = await raced(() => startGateway({ ...storageConfig, dataDir: dir }));
    out.startMs = since(t);
    try {
      out.calls = {
        ...(await timeCalls(gw.url, await signIn(gw.url, MASTER_KEY), pageCalls())),
        ...(await timeCalls(gw.url, await signIn(gw.url, VK_SECRET), virtualKeyCalls())),
      };
      out.pages = await timePages(gw.url);
      out.load.push(loadavg());
    } finally {
      await gw.close({ graceMs: 0 });
    }
  } finally {
    if (driver === 'postgres') {
      const storage = await createStorage({ url: PG_URL, dataDir: dir });
      await sql`drop schema ${sql.id(schema)} cascade`.execute(storage.db).catch(() => undefined);
      await storage.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const stores = opts.store === 'both' ? ['sqlite', 'postgres'] : [opts.store];
const results = [];
for (const s of stores) results.push(await runStore(s));
const md = [
  `# The console on a ${N.toLocaleString('en')}-row ledger (${DAYS} days, ${KEYS} keys, ${END_USERS} end users, ${TAGS} tags)`,
  '',
  `\`node bench/console-scale.mjs --rows ${N} --store ${opts.store} --tries ${TRIES}\` (${new Date().toISOString().slice(0, 10)})`,
  '',
  'Calls through `/ui/api/…` with a master-key session, as the page makes them (the first of each untimed); pages in headless Chromium from navigation to the last number on screen.',
  '',
];
for (const r of results) {
  const load = (l) => l.map((x) => x.toFixed(2)).join(' / ');
  md.push(`## ${r.driver}`, '', `- gateway start on the seeded database: ${r.startMs} ms`, `- load average (1 / 5 / 15 min; 2 cores): ${load(r.load[0])} before seeding, ${load(r.load[1])} after the pages`, '', '| call | n | p50 ms | p95 ms | max ms | answer |', '|:--|--:|--:|--:|--:|:--|');
  for (const [q, s] of Object.entries(r.calls)) md.push(`| ${q} | ${s.n} | ${s.p50} | ${s.p95} | ${s.max} | ${s.shows} |`);
  md.push('', '| page in Chromium | n | p50 ms | p95 ms | max ms |', '|:--|--:|--:|--:|--:|');
  for (const [p, s] of Object.entries(r.pages)) md.push(`| ${p} | ${s.n} | ${s.p50} | ${s.p95} | ${s.max} |`);
  md.push('');
}
const file = opts.out ?? new URL(`./results/${new Date().toISOString().slice(0, 10)}-console-scale.md`, import.meta.url);
writeFileSync(file, md.join('\n'));
console.log(md.join('\n'));
