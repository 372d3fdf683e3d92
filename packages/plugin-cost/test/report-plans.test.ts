import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type CompiledQuery, type Kysely, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { DAY_MS } from '../src/ledger-rollups.js';
import { SpendQueries } from '../src/spend-queries.js';
import type { SpendRow } from '../src/spend-row.js';

// The console's overview on a large ledger: which rollup, and which index, its top groups read
// (as log-plans.test.ts checks the request log's filters). A test ledger is too small to time.
const T0 = Date.UTC(2021, 4, 1);

function row(i: number): SpendRow {
  const start = T0 + (i % 20) * DAY_MS + i;
  return {
    request_id: `rp-${i}`, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'm', api_key: `k${i % 40}`,
    key_alias: null, user_id: `u${i % 40 % 8}`, team_id: `t${i % 40 % 2}`, end_user: `e${(i * 7919) % 1500}`, request_tags: [], status: 200,
    prompt_tokens: 1, completion_tokens: 1, input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0, cache_creation_input_tokens: 0,
    cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0, service_tier: null, inference_geo: null, speed: null,
    spend: BigInt(1000 + (i % 977)), unpriced: false, stream: false, aborted: false, batch_id: null, start_time: start, end_time: start + 1,
    completion_start_time: null, session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null,
  };
}

describe.each(DRIVERS)('the overview\'s report plans on %s', (driver) => {
  let tdb: TestDatabase;
  let storage: Storage;
  let captured: CompiledQuery[];
  let queries: SpendQueries;

  beforeAll(async () => {
    tdb = await createTestDatabase(driver);
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage);
    for (let i = 0; i < 6000; i += 1000) await store.insert(ledgerBatch(Array.from({ length: 1000 }, (_, j) => row(i + j))));
    if (driver === 'postgres') await sql`vacuum analyze tollgate_spend_daily_end_users`.execute(storage.db);
    captured = [];
    const spy: Kysely<any> = (storage.db as Kysely<any>).withPlugin({
      transformQuery: ({ node, queryId }) => (captured.push(spy.getExecutor().compileQuery(node, queryId)), node),
      transformResult: async ({ result }) => result,
    });
    queries = new SpendQueries(spy as never, store.shape);
  }, 60_000);
  afterAll(async () => {
    await storage?.close();
    await tdb?.drop();
  });

  /** The plan of the query a whole-day top-5 report runs, and its answer. */
  async function topFive(groupBy: 'user' | 'team' | 'end_user') {
    captured.length = 0;
    const groups = await queries.report(groupBy, { from: T0 + 5 * DAY_MS }, 5);
    // The statement run is the last compiled (a subquery is compiled, alone, as it is built).
    const q = captured.at(-1)!;
    const plan = await storage.db.connection().execute(async (conn) => {
      if (driver === 'sqlite') return (await conn.executeQuery<{ detail: string }>({ ...q, sql: `explain query plan ${q.sql}` })).rows.map((x) => x.detail).join('\n');
      // A few thousand rows are cheaper to scan than to look up: the plan on a rollup too large to scan.
      await sql`set enable_seqscan = off`.execute(conn);
      try {
        return (await conn.executeQuery<{ 'QUERY PLAN': string }>({ ...q, sql: `explain ${q.sql}` })).rows.map((x) => x['QUERY PLAN']).join('\n');
      } finally {
        await sql`reset enable_seqscan`.execute(conn);
      }
    });
    return { groups, plan };
  }

  it('reads top users and teams from their own rollups', async () => {
    const users = await topFive('user');
    expect(users.plan).toMatch(/\btollgate_spend_daily_users\b/);
    expect(users.groups.map((g) => g.key)).toHaveLength(5);
    const teams = await topFive('team');
    expect(teams.plan).toMatch(/\btollgate_spend_daily_teams\b/);
    // Rows 0–5999 on days 0–19 (i % 20), 300 a day: t1 has the odd keys (8 of the days 5–19), t0 the even.
    expect(teams.groups.map((g) => [g.key, g.requests])).toEqual([['t1', 2400], ['t0', 2100]]);
  });

  it('picks the top end users by the spend the end-user index holds, then reads only theirs', async () => {
    const { groups, plan } = await topFive('end_user');
    const fromRows = new SpendQueries(storage.db as never, { rows: 'all', rollups: false });
    expect(groups).toEqual((await fromRows.report('end_user', { from: T0 + 5 * DAY_MS })).slice(0, 5));
    if (driver === 'sqlite') {
      // Summed in end-user order from the index alone (the gateway runs SQLite without statistics).
      expect(plan).toMatch(/SCAN tollgate_spend_daily_end_users USING COVERING INDEX tollgate_spend_daily_end_user_spend/);
      expect(plan).not.toMatch(/TEMP B-TREE FOR GROUP BY/);
    } else {
      // Which way PostgreSQL adds up the window is its statistics' call (on a million-row
      // rollup, the index in end-user order: a hash of 50,000 end users spills past work_mem;
      // on this small one, a hash); the winners' other sums are read through the index.
      expect(plan).toMatch(/Index (Only )?Scan using tollgate_spend_daily_end_user_spend on tollgate_spend_daily_end_users\s+\(.*\)\n\s+Index Cond: \(\(end_user = /);
    }
  });
});
