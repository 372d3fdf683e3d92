import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@tollgate/storage';
import { DRIVERS } from '@tollgate/storage/testing';
import { DAY_MS } from '../src/ledger-rollups.js';
import { SpendQueries } from '../src/spend-queries.js';
import { openPlanLedger, planRow, type PlanLedger } from './plan-ledger.js';

// The console's overview on a large ledger: which rollup, and which index, its top groups read
// (as log-plans.test.ts checks the request log's filters). A test ledger is too small to time.
const T0 = Date.UTC(2021, 4, 1);

function row(i: number) {
  const start = T0 + (i % 20) * DAY_MS + i;
  return planRow(`rp-${i}`, start, { api_key: `k${i % 40}`, user_id: `u${i % 40 % 8}`, team_id: `t${i % 40 % 2}`, end_user: `e${(i * 7919) % 1500}`, spend: BigInt(1000 + (i % 977)) });
}

describe.each(DRIVERS)('the overview\'s report plans on %s', (driver) => {
  let ledger: PlanLedger;

  beforeAll(async () => {
    ledger = await openPlanLedger(driver, row);
    if (driver === 'postgres') await sql`vacuum analyze tollgate_spend_daily_end_users`.execute(ledger.storage.db);
  }, 60_000);
  afterAll(async () => {
    await ledger?.close();
  });

  /** The plan of the query a whole-day top-5 report runs, and its answer. */
  async function topFive(groupBy: 'user' | 'team' | 'end_user') {
    ledger.captured.length = 0;
    const groups = await ledger.queries.report(groupBy, { from: T0 + 5 * DAY_MS }, 5);
    // The statement run is the last compiled (a subquery is compiled, alone, as it is built).
    const plan = await ledger.explain(ledger.captured.at(-1)!);
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
    const fromRows = new SpendQueries(ledger.storage.db as never, { rows: 'all', rollups: false });
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
