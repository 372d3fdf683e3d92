import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { splitInserts, sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations, LOG_COLUMNS, MIN_ROWS_PER_CONNECTION, type LedgerShape } from '../src/ledger-store.js';
import { DAY_MS, dayOf, END_USER_ROLLUP, KEY_ROLLUP, PER_KEY_WEEK_ROLLUP, rebuildRollups, rollupRepriced, ROLLUPS, spanStart, TAG_ROLLUP } from '../src/ledger-rollups.js';
import { dayPartitions } from '../src/ledger-partitions.js';
import { LedgerRetention } from '../src/ledger-retention.js';
import { createLogger } from '@tollgate/core';
import { GROUP_BY, SpendQueries } from '../src/spend-queries.js';
import type { SpendRow } from '../src/spend-row.js';

const T0 = Date.UTC(2026, 10, 1);
const ROLLUP_TABLES = ['tollgate_spend_daily', 'tollgate_spend_daily_end_users', 'tollgate_spend_daily_tags', 'tollgate_spend_daily_keys', 'tollgate_spend_daily_models', 'tollgate_spend_daily_users', 'tollgate_spend_daily_teams', 'tollgate_spend_weekly_keys'];

/** A small deterministic PRNG (mulberry32): the same "random" ledger every run. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` rows over `days` days from T0. */
function randomRows(n: number, seed: number, days = 9): SpendRow[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const rows: SpendRow[] = [];
  for (let i = 0; i < n; i++) {
    const key = pick(['k1', 'k2', 'k3', null]);
    const start = T0 + Math.floor(rnd() * days * DAY_MS);
    const unpriced = rnd() < 0.05;
    const input = Math.floor(rnd() * 5000);
    const output = Math.floor(rnd() * 900);
    rows.push({
      request_id: `r${seed}-${i}`, upstream_request_id: null, message_id: null, call_type: 'messages',
      model: pick(['claude-haiku-4-5', 'claude-sonnet-4-6', null]), api_key: key, key_alias: key === null ? null : pick([`${key}-a`, `${key}-b`, null]),
      user_id: pick(['u1', 'u2', null]), team_id: pick(['t1', null]), end_user: pick(['e1', 'e2', 'e3', null]),
      request_tags: rnd() < 0.3 ? [] : [...new Set([pick(['x', 'y', 'z']), pick(['x', 'w'])])],
      status: pick([200, 200, 200, 429, 500, 499]), prompt_tokens: input, completion_tokens: output, input_tokens: input, output_tokens: output,
      cache_read_input_tokens: 0, cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
      service_tier: null, inference_geo: null, speed: null,
      // Some rows past 2^53 pico-dollars, so sums are checked exactly.
      spend: unpriced ? 0n : BigInt(Math.floor(rnd() * 1e9)) * (rnd() < 0.1 ? 10_000_000n : 1n),
      unpriced, stream: rnd() < 0.5, aborted: rnd() < 0.05, batch_id: null, start_time: start, end_time: start + 100, completion_start_time: null,
      session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null,
    });
  }
  return rows;
}

describe.each(DRIVERS)('rollups on %s', (driver) => {
  let tdb: TestDatabase;
  let storage: Storage;
  afterEach(async () => {
    await storage?.close();
    await tdb?.drop();
  });

  async function open(shape?: LedgerShape) {
    tdb = await createTestDatabase(driver);
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
    return new LedgerStore(storage, shape);
  }

  it('give the same reports, end-user activity and totals as the rows, on random data and ranges', async () => {
    const store = await open();
    // 30 days: ranges of whole 7-day spans (the per-key rollup's weeks) and days at their edges.
    const rows = randomRows(600, 7, 30);
    for (let i = 0; i < rows.length; i += 97) await store.insert(ledgerBatch(rows.slice(i, i + 97)));
    // A replay of rows already written changes nothing.
    await store.insert(ledgerBatch(rows.slice(0, 150)));
    // One large write, which PostgreSQL splits by key over transactions that run at once; the
    // parts share users, teams, tags, models and end users (ledger.writeConnections).
    const split = new LedgerStore(storage, store.shape, 3);
    const more = randomRows(3 * MIN_ROWS_PER_CONNECTION, 8, 30);
    if (driver === 'postgres') expect(splitInserts([{ table: 'l', columns: LOG_COLUMNS, json: ledgerBatch(more).logs, onConflictDoNothing: ['request_id'] }], { by: 'api_key', parts: 3, minRows: MIN_ROWS_PER_CONNECTION }).length).toBeGreaterThan(1);
    await split.insert(ledgerBatch(more));
    const fromRows = new SpendQueries(store.db, { rows: 'all', rollups: false });
    const fromRollups = new SpendQueries(store.db, { rows: 'all', rollups: true });
    const rnd = prng(99);
    const ranges = [{}, { from: T0 + 2 * DAY_MS }, { to: T0 + 5 * DAY_MS }, { from: T0 + DAY_MS, to: T0 + 4 * DAY_MS }];
    for (let i = 0; i < 6; i++) {
      const from = T0 + Math.floor(rnd() * 9 * DAY_MS);
      ranges.push({ from, to: from + Math.floor(rnd() * 4 * DAY_MS) + 1 });
    }
    for (let i = 0; i < 6; i++) {
      const from = (dayOf(T0) + Math.floor(rnd() * 12)) * DAY_MS;
      ranges.push({ from, to: from + (8 + Math.floor(rnd() * 18)) * DAY_MS }, { from: from + Math.floor(rnd() * 6) * DAY_MS });
    }
    for (const range of ranges) {
      for (const groupBy of GROUP_BY) {
        const all = await fromRows.report(groupBy, range);
        expect(await fromRollups.report(groupBy, range), `${groupBy} ${JSON.stringify(range)}`).toEqual(all);
        // The console's top groups: the database picks them (end users from their index first).
        expect(await fromRollups.report(groupBy, range, 2), `${groupBy} ${JSON.stringify(range)} top 2`).toEqual(all.slice(0, 2));
      }
      // One key's groups (read from the key rollup by its index).
      for (const groupBy of ['key', 'user', 'team', 'model'] as const) {
        const byKey = { ...range, apiKey: 'k1' };
        expect(await fromRollups.report(groupBy, byKey), `${groupBy} ${JSON.stringify(byKey)}`).toEqual(await fromRows.report(groupBy, byKey));
      }
    }
    for (const endUser of ['e1', 'e2', 'nobody']) expect(await fromRollups.endUser(endUser)).toEqual(await fromRows.endUser(endUser));
    // The per-day series (the console's chart), whole days, by key, user and model too.
    const filters = [{}, { from: T0 + DAY_MS, to: T0 + 6 * DAY_MS }, { apiKey: 'k2' }, { userId: 'u1', model: 'claude-haiku-4-5' }, { from: T0 + 2 * DAY_MS, apiKey: 'k1' }, { userId: 'u2' }, { userId: 'u1', from: T0 + 3 * DAY_MS }, { model: 'claude-sonnet-4-6', to: T0 + 5 * DAY_MS }];
    for (const filter of filters) {
      expect(await fromRollups.daily(filter), JSON.stringify(filter)).toEqual(await fromRows.daily(filter));
    }
    const rollupStore = new LedgerStore(storage, { rows: 'all', rollups: true });
    const rowStore = new LedgerStore(storage, { rows: 'all', rollups: false });
    for (const d of ['api_key', 'user_id', 'team_id', 'end_user', 'tag'] as const) {
      const [a, b] = [await rollupStore.totalsBy(d), await rowStore.totalsBy(d)];
      expect(new Map([...a].filter(([, v]) => v !== 0n)), d).toEqual(new Map([...b].filter(([, v]) => v !== 0n)));
    }
    // Repricing (as POST /spend/reprice does) moves every rollup with the row.
    const unpriced = await store.db.selectFrom('tollgate_spend_logs').selectAll().where('unpriced', '=', 1).limit(8).execute();
    expect(unpriced.length).toBeGreaterThan(0);
    for (const r of unpriced) {
      await store.db.transaction().execute(async (tx) => {
        await tx.updateTable('tollgate_spend_logs').set({ spend: '123456789012', unpriced: 0 }).where('request_id', '=', r.request_id).execute();
        await rollupRepriced(tx as never, r, 123456789012n - BigInt(r.spend), true);
      });
    }
    for (const groupBy of GROUP_BY) {
      const all = await fromRows.report(groupBy, {});
      expect(await fromRollups.report(groupBy, {}), `${groupBy} repriced`).toEqual(all);
      expect(await fromRollups.report(groupBy, {}, 3), `${groupBy} repriced, top 3`).toEqual(all.slice(0, 3));
    }
    for (const filter of filters) expect(await fromRollups.daily(filter), `${JSON.stringify(filter)} repriced`).toEqual(await fromRows.daily(filter));
    // Rebuilt from the rows, the rollups are the same rows of the same sums.
    const snapshot = async () => {
      const out: unknown[] = [];
      for (const t of ROLLUP_TABLES) {
        const { rows: r } = await sql`select * from ${sql.table(t)}`.execute(storage.db);
        out.push(r.map((x) => JSON.stringify(Object.entries(x as object).map(([k, v]) => [k, String(v)]))).sort());
      }
      return out;
    };
    const kept = await snapshot();
    await rebuildRollups(storage.db, Math.floor(T0 / DAY_MS) + 3);
    expect(await snapshot()).toEqual(kept);
    await rebuildRollups(storage.db);
    expect(await snapshot()).toEqual(kept);
  });

  it('the per-key, per-model, per-user and per-team rollups start from the key rollup, which counts requests whose rows were never kept', async () => {
    tdb = await createTestDatabase(driver);
    storage = await tdb.open();
    await storage.migrate('cost', Object.fromEntries(Object.entries(ledgerMigrations).filter(([name]) => name < '012')));
    // Written as a gateway before migration 012 did with ledger.rows: none (its three rollups).
    const rows = randomRows(300, 13);
    await storage.background.insert([{ table: 'tollgate_spend_logs', columns: LOG_COLUMNS, json: ledgerBatch(rows).logs, keepWhen: 'none', rollups: [KEY_ROLLUP, END_USER_ROLLUP, TAG_ROLLUP] }]);
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage, { rows: 'none', rollups: true });
    const queries = new SpendQueries(store.db, store.shape);
    const expected = (column: 'api_key' | 'model' | 'user_id' | 'team_id') => {
      const out = new Map<string | null, { spend: bigint; requests: number }>();
      for (const r of rows) {
        const g = out.get(r[column]) ?? { spend: 0n, requests: 0 };
        out.set(r[column], { spend: g.spend + r.spend, requests: g.requests + 1 });
      }
      return out;
    };
    for (const [groupBy, column] of [['key', 'api_key'], ['model', 'model'], ['user', 'user_id'], ['team', 'team_id']] as const) {
      const report = await queries.report(groupBy, {});
      expect(new Map(report.map((g) => [g.key, { spend: g.spend, requests: g.requests }])), groupBy).toEqual(expected(column));
    }
    const keyTotals = new Map([...expected('api_key')].filter(([k]) => k !== null).map(([k, g]) => [k, g.spend]));
    expect(await store.totalsBy('api_key')).toEqual(keyTotals);
    for (const column of ['user_id', 'team_id'] as const) {
      expect(await store.totalsBy(column), column).toEqual(new Map([...expected(column)].filter(([k]) => k !== null).map(([k, g]) => [k, g.spend])));
    }
    expect((await queries.daily({})).reduce((n, d) => n + d.requests, 0)).toBe(rows.length);
  });

  it('with rows: errors, keeps the failed, aborted, unpriced and batch rows and counts every request in the rollups', async () => {
    const store = await open({ rows: 'errors', rollups: true });
    const rows = randomRows(300, 3);
    rows[0] = { ...rows[0]!, status: 200, aborted: false, unpriced: false, call_type: 'batches', batch_id: 'msgbatch_1' };
    await store.insert(ledgerBatch(rows));
    const kept = rows.filter((r) => r.status >= 400 || r.aborted || r.unpriced || r.batch_id !== null);
    const stored = await sql<{ request_id: string }>`select request_id from tollgate_spend_logs order by request_id`.execute(storage.db);
    expect(stored.rows.map((r) => r.request_id)).toEqual(kept.map((r) => r.request_id).sort());
    const tagRows = await sql<{ request_id: string }>`select distinct request_id from tollgate_spend_tags`.execute(storage.db);
    expect(tagRows.rows.every((t) => kept.some((r) => r.request_id === t.request_id))).toBe(true);
    const report = await new SpendQueries(store.db, store.shape).report('model', {});
    expect(report.reduce((n, g) => n + g.requests, 0)).toBe(300);
    expect(report.reduce((n, g) => n + g.spend, 0n)).toBe(rows.reduce((n, r) => n + r.spend, 0n));
    // Part-day ranges need the rows: refused with a clear error, whole days answered.
    await expect(new SpendQueries(store.db, store.shape).report('key', { from: T0 + 1 })).rejects.toThrow(/whole UTC days/);
    expect((await new SpendQueries(store.db, store.shape).report('key', { from: T0 + DAY_MS })).length).toBeGreaterThan(0);
  });

  it('with rows: none, stores only batch rows, and budgets across replicas read the rollups', async () => {
    const store = await open({ rows: 'none', rollups: true });
    const rows = randomRows(50, 5).map((r) => ({ ...r, api_key: 'kk', batch_id: null }));
    await store.insert(ledgerBatch(rows));
    expect(Number((await sql<{ n: number }>`select count(*) as n from tollgate_spend_logs`.execute(storage.db)).rows[0]!.n)).toBe(0);
    const total = rows.reduce((n, r) => n + r.spend, 0n);
    expect((await store.totalsBy('api_key')).get('kk')).toBe(total);
    if (driver === 'postgres') expect((await store.sharedKeySpend(['kk']))!.get('kk')).toBe(total);
  });

  it('retention drops old rows (whole partitions on PostgreSQL) without touching rollups, and folds old rollup days into exact all-time totals', async () => {
    const store = await open();
    const rows = randomRows(400, 11);
    await store.insert(ledgerBatch(rows));
    const queries = new SpendQueries(store.db, store.shape);
    const allTime = await queries.report('key', {});
    const allModels = await queries.report('model', {});
    // Up to a day inside the 7-day span that holds the fold's cutoff (day 7): its whole spans and its days.
    const toMidSpan = { to: (dayOf(T0) + 8) * DAY_MS };
    const upToMidSpan = await queries.report('user', toMidSpan);
    const lastDays = await queries.report('model', { from: T0 + 6 * DAY_MS });
    const totals = await store.totalsBy('api_key');
    const db = storage.db;
    if (driver === 'postgres') {
      // The migration made today's and tomorrow's partitions; the writer's rows of other days
      // waited in the default one until the maintenance run gave them theirs.
      const before = await dayPartitions(db, 'tollgate_spend_logs');
      expect(before.map((p) => p.day)).toEqual([dayOf(Date.now()), dayOf(Date.now()) + 1]);
    }
    // "Today" is T0 + 9 days: rows of the first 3 days are past a 6-day retention.
    const now = () => T0 + 9 * DAY_MS + 1000;
    const silent = createLogger({ level: 'silent', destination: { write: () => {} } });
    const retention = new LedgerRetention({ store, log: silent, retentionDays: 6, rollupRetentionDays: null, everyMs: 0, now });
    const first = await retention.runOnce();
    const left = await sql<{ request_id: string }>`select request_id from tollgate_spend_logs order by request_id`.execute(db);
    expect(left.rows.map((r) => r.request_id)).toEqual(rows.filter((r) => r.start_time >= T0 + 3 * DAY_MS).map((r) => r.request_id).sort());
    const orphanTags = await sql<{ n: number | string }>`select count(*) as n from tollgate_spend_tags t where not exists (select 1 from tollgate_spend_logs l where l.request_id = t.request_id)`.execute(db);
    expect(Number(orphanTags.rows[0]!.n)).toBe(0);
    if (driver === 'postgres') {
      expect(first.droppedPartitions).toBe(0);
      // Day partitions now exist for the days ahead of "now"; the rows sit in the default one
      // (their days had none), from which retention deleted the old ones.
      const days = (await dayPartitions(db, 'tollgate_spend_logs')).map((p) => p.day);
      expect(days).toEqual(expect.arrayContaining([dayOf(now()), dayOf(now()) + 3]));
      // Whole partitions go: make partitions for the ledger's days, then run retention later.
      const { ensurePartitions } = await import('../src/ledger-partitions.js');
      await ensurePartitions(db, Array.from({ length: 9 }, (_, i) => dayOf(T0) + i));
      const inDefault = await sql<{ n: number | string }>`select count(*) as n from tollgate_spend_logs_default`.execute(db);
      expect(Number(inDefault.rows[0]!.n)).toBe(0);
      const later = new LedgerRetention({ store, log: silent, retentionDays: 6, rollupRetentionDays: null, everyMs: 0, now: () => now() + 2 * DAY_MS });
      // Days 0–4 of the ledger are before the new cutoff (day 5): both tables' partitions go.
      expect((await later.runOnce()).droppedPartitions).toBe(5 * 2);
      const stillThere = (await dayPartitions(db, 'tollgate_spend_logs')).map((p) => p.day);
      expect(stillThere).not.toContain(dayOf(T0) + 4);
      expect(stillThere).toContain(dayOf(T0) + 5);
    } else {
      expect(first.deletedRows).toBe(rows.length - left.rows.length);
    }
    // Rollups untouched: the reports of all time are as before.
    expect(await queries.report('key', {})).toEqual(allTime);
    expect(await queries.report('model', { from: T0 + 6 * DAY_MS })).toEqual(lastDays);

    // Folding rollup days older than 2 days into day 0 keeps all-time totals exact.
    const fold = new LedgerRetention({ store, log: silent, retentionDays: null, rollupRetentionDays: 2, everyMs: 0, now });
    expect((await fold.runOnce()).foldedRollupRows).toBeGreaterThan(0);
    expect(await queries.report('key', {})).toEqual(allTime);
    expect(await queries.report('model', {})).toEqual(allModels);
    expect(await queries.report('user', toMidSpan)).toEqual(upToMidSpan);
    expect(await store.totalsBy('api_key')).toEqual(totals);
    for (const table of ROLLUP_TABLES) {
      const kept = await sql<{ day: number }>`select distinct day from ${sql.table(table)} order by day`.execute(db);
      // The 7-day spans: each holds the sum of its days, so the span with day 0 holds all folded days.
      const days = table === PER_KEY_WEEK_ROLLUP.table ? [...new Set([0, dayOf(T0) + 7, dayOf(T0) + 8].map((d) => spanStart(d, 7)))] : [0, dayOf(T0) + 7, dayOf(T0) + 8];
      expect(kept.rows.map((r) => Number(r.day)), table).toEqual(days);
    }
  });
});

// PostgreSQL only: SQLite writes one transaction at a time.
describe('split writes on postgres', () => {
  let tdb: TestDatabase;
  let storage: Storage;
  beforeEach(async () => {
    tdb = await createTestDatabase('postgres');
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
  });
  afterEach(async () => {
    await storage?.close();
    await tdb?.drop();
  });

  /**
   * A transaction of our own that holds a lock on one key's running total until `release()`;
   * resolves once the lock is held. `pid` is its backend, `done` its end.
   */
  async function holdKeyTotal(key: string) {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let pid = 0;
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const done = storage.db.transaction().execute(async (tx) => {
      await sql`select spend from tollgate_key_spend where api_key = ${key} for update`.execute(tx);
      pid = Number((await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(tx)).rows[0]!.pid);
      locked();
      await released;
    });
    await isLocked;
    return { pid, release, done };
  }
  /** Backends that wait for a lock `pid` holds. */
  const blockedBy = async (pid: number) => (await sql<{ pid: number }>`select pid from pg_stat_activity where ${pid} = any(pg_blocking_pids(pid))`.execute(storage.db)).rows.map((r) => Number(r.pid));

  it('the key totals trigger locks keys in key order, so writers that share keys wait for one another instead of deadlocking', async () => {
    // Rows alone: the trigger is the only place a write locks other writers' rows.
    const store = new LedgerStore(storage, { rows: 'all', rollups: false });
    const keys = Array.from({ length: 50 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const rows = (tag: string) => randomRows(keys.length, 17).map((r, i) => ({ ...r, request_id: `${tag}-${i}`, api_key: keys[(i * 31) % keys.length]!, spend: 1000n, unpriced: false }));
    await store.insert(ledgerBatch(rows('first')));
    const holder = await holdKeyTotal('k25');
    const write = store.insert(ledgerBatch(rows('second')));
    write.catch(() => undefined);
    await vi.waitFor(async () => expect(await blockedBy(holder.pid)).toHaveLength(1), { timeout: 10_000, interval: 20 });
    // The keys the waiting write has not locked yet: exactly those after the one it waits for.
    const free = await storage.db.transaction().execute(async (tx) => (await sql<{ api_key: string }>`select api_key from tollgate_key_spend for update skip locked`.execute(tx)).rows.map((r) => r.api_key).sort());
    expect(free).toEqual(keys.slice(26));
    holder.release();
    await holder.done;
    await write;
    expect(Number((await sql<{ n: string }>`select sum(spend) as n from tollgate_key_spend`.execute(storage.db)).rows[0]!.n)).toBe(2 * keys.length * 1000);
  });

  it('update every rollup, in an order that leaves the rollups many keys share for last', () => {
    const shared = ROLLUPS.findIndex((r) => !r.group.some((g) => g.column === 'api_key' || g.column === 'end_user'));
    expect(ROLLUPS.slice(shared).every((r) => !r.group.some((g) => g.column === 'api_key'))).toBe(true);
  });

  it(
    'a large write goes in as transactions that run at once, split by key, and one that failed is written again without counting the others twice',
    async () => {
      const store = new LedgerStore(storage, { rows: 'all', rollups: true }, 2);
      // Two keys that the split puts apart.
      const probe = (a: string, b: string) => splitInserts([{ table: 'l', columns: ['id', 'api_key'], rows: [['1', a], ['2', b]], onConflictDoNothing: ['id'] }], { by: 'api_key', parts: 2, minRows: 1 }).length === 2;
      const names = ['ka', 'kb', 'kc', 'kd', 'ke', 'kf'];
      const [held, free] = names.flatMap((a) => names.filter((b) => probe(a, b)).map((b) => [a, b]))[0]!;
      // Each key's rows share no rollup row with the other key's (model, user, team, end user,
      // tags): a rollup row both parts update is taken by one part at a time.
      const rows = randomRows(2 * MIN_ROWS_PER_CONNECTION, 13, 3).map((r, i) => {
        const h = i % 2 === 0;
        return { ...r, api_key: h ? held! : free!, model: h ? 'claude-sonnet-4-6' : 'claude-haiku-4-5', user_id: h ? 'uh' : 'uf', team_id: h ? 'th' : 'tf', end_user: h ? 'eh' : 'ef', request_tags: [h ? 'h' : 'f'] };
      });
      // The held key's running total exists; a transaction of our own locks it.
      await store.insert(ledgerBatch([{ ...rows[0]!, request_id: 'first' }]));
      const holder = await holdKeyTotal(held!);
      const blocked = () => blockedBy(holder.pid);
      const count = async (key: string) => Number((await sql<{ n: number }>`select count(*) as n from tollgate_spend_logs where api_key = ${key}`.execute(storage.db)).rows[0]!.n);
      let settled = false;
      const write = store.insert(ledgerBatch(rows)).finally(() => (settled = true));
      write.catch(() => undefined);
      // The free key's rows commit while the held key's transaction waits for the lock.
      await vi.waitFor(async () => expect((await blocked()).length).toBe(1), { timeout: 10_000, interval: 20 });
      await vi.waitFor(async () => expect(await count(free!)).toBe(rows.length / 2), { timeout: 10_000, interval: 20 });
      expect(await count(held!)).toBe(1);
      expect(settled).toBe(false);
      // The waiting part fails: the write fails, though the other part stays committed.
      await sql`select pg_cancel_backend(${(await blocked())[0]!})`.execute(storage.db);
      await expect(write).rejects.toThrow(/cancel/);
      holder.release();
      await holder.done;
      // Written again (as the SpendWriter does from its spool): every row and every sum once.
      await store.insert(ledgerBatch(rows));
      expect([await count(held!), await count(free!)]).toEqual([rows.length / 2 + 1, rows.length / 2]);
      const snapshot = async () => {
        const out: Record<string, string[]> = {};
        for (const t of ROLLUP_TABLES) out[t] = (await sql<Record<string, unknown>>`select * from ${sql.table(t)}`.execute(storage.db)).rows.map((r) => JSON.stringify(r)).sort();
        out.key_spend = (await sql<Record<string, unknown>>`select api_key, spend::text as spend from tollgate_key_spend`.execute(storage.db)).rows.map((r) => JSON.stringify(r)).sort();
        return out;
      };
      const written = await snapshot();
      await rebuildRollups(storage.db);
      expect(written).toEqual(await snapshot());
      const fromRows = await sql<Record<string, unknown>>`select api_key, sum(spend)::text as spend from tollgate_spend_logs group by api_key`.execute(storage.db);
      expect(written.key_spend).toEqual(fromRows.rows.map((r) => JSON.stringify(r)).sort());
    },
  );

});
