import { afterEach, describe, expect, it } from 'vitest';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { DAY_MS } from '../src/ledger-rollups.js';
import { GROUP_BY, SpendQueries } from '../src/spend-queries.js';
import type { SpendRow } from '../src/spend-row.js';

const T0 = Date.UTC(2026, 9, 1);
// Names whose order differs between code points and a locale's collation ('B' < 'a' < 'é'),
// and null (a group of its own, last among equals).
const NAMES = ['a', 'B', 'b', 'é', 'Z', '_', null] as const;

/**
 * Every name gets the same rows (so groups tie, and order by name), over six days; then 'B'
 * and '_' one pico-dollar more on day 2, which puts them first in ranges with that day.
 */
function rows(): SpendRow[] {
  const out: SpendRow[] = [];
  const row = (i: number, name: string | null, spend: bigint, day: number): SpendRow => {
    const start = T0 + day * DAY_MS + ((i * 7919) % DAY_MS);
    return {
      request_id: `lim-${i}`, upstream_request_id: null, message_id: null, call_type: 'messages', model: name, api_key: name, key_alias: null,
      user_id: name, team_id: name, end_user: name, request_tags: name === null ? [] : [name], status: 200,
      prompt_tokens: 1, completion_tokens: 1, input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0, cache_creation_input_tokens: 0,
      cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0, service_tier: null, inference_geo: null, speed: null,
      spend, unpriced: false, stream: false, aborted: false, batch_id: null, start_time: start, end_time: start + 1, completion_start_time: null,
      session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null,
    };
  };
  const spends = [1_000_000n, 2_500_000n, 999_999n, 1_000_001n];
  for (let i = 0; i < NAMES.length * 60; i++) out.push(row(i, NAMES[i % NAMES.length]!, spends[Math.floor(i / NAMES.length) % 4]!, Math.floor(i / NAMES.length) % 6));
  out.push(row(10_000, 'B', 1n, 2), row(10_001, '_', 1n, 2));
  return out;
}

describe.each(DRIVERS)('/spend/report with a limit on %s', (driver) => {
  let tdb: TestDatabase;
  let storage: Storage;
  afterEach(async () => {
    await storage?.close();
    await tdb?.drop();
  });

  it('the database picks the same top groups, in the same order, as sorting every group does', async () => {
    tdb = await createTestDatabase(driver);
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage, { rows: 'all', rollups: true });
    await store.insert(ledgerBatch(rows()));
    // Repricing lower can leave a rollup row's sum of pico remainders negative: move thirty
    // micro-dollars between the parts of the rows of 'a' and 'Z' (their totals stay the same).
    const tables = [
      ['tollgate_spend_daily', 'api_key'], ['tollgate_spend_daily_keys', 'api_key'], ['tollgate_spend_daily_models', 'model'], ['tollgate_spend_daily_users', 'user_id'],
      ['tollgate_spend_daily_teams', 'team_id'], ['tollgate_spend_daily_end_users', 'end_user'], ['tollgate_spend_daily_tags', 'tag'],
    ] as const;
    for (const [table, column] of tables) {
      await sql`update ${sql.table(table)} set spend_micro = spend_micro + 30, spend_rest = spend_rest - 30000000 where ${sql.ref(column)} in ('a', 'Z')`.execute(storage.db);
    }
    const queries = new SpendQueries(store.db, store.shape);
    const rowsOnly = new SpendQueries(store.db, { rows: 'all', rollups: false });
    const ranges = [{}, { from: T0 + DAY_MS }, { from: T0, to: T0 + 4 * DAY_MS }, { from: T0 + DAY_MS + 5, to: T0 + 3 * DAY_MS }];
    for (const groupBy of GROUP_BY) {
      for (const range of ranges) {
        const all = await queries.report(groupBy, range);
        expect(all, `${groupBy} ${JSON.stringify(range)}`).toEqual(await rowsOnly.report(groupBy, range));
        if (all.length > 2) expect(new Set(all.map((g) => g.spend)).size, 'some groups tie').toBeLessThan(all.length);
        for (const limit of [1, 2, 3, 5]) {
          expect(await queries.report(groupBy, range, limit), `${groupBy} ${JSON.stringify(range)} limit ${limit}`).toEqual(all.slice(0, limit));
        }
      }
    }
  });
});
