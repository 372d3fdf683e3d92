import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '@tollgate/storage';
import { DRIVERS } from '@tollgate/storage/testing';
import type { LogFilter } from '../src/spend-queries.js';
import { openPlanLedger, planRow, type PlanLedger } from './plan-ledger.js';

// What the request log's filters cost on a large ledger is which index they read, not how long
// a tiny test ledger takes: these check the plans the databases choose for a page (and its
// count) of each filter the console offers.
const T0 = Date.parse('2021-05-01T00:00:00Z');

const row = (i: number) =>
  planRow(`plan-${i}`, T0 + i * 1000, { model: ['m-a', 'm-b', 'm-c'][i % 3]!, api_key: String(i % 50).padStart(64, '0'), key_alias: 'planner', request_tags: [`t${i % 200}`], status: i % 50 === 0 ? 529 : 200 });

describe.each(DRIVERS)('the request log\'s query plans on %s', (driver) => {
  let ledger: PlanLedger;

  beforeAll(async () => {
    ledger = await openPlanLedger(driver, row);
    // PostgreSQL analyzes tables by itself; the gateway never runs ANALYZE on SQLite, whose
    // plans must hold without statistics.
    if (driver === 'postgres') for (const table of ['tollgate_spend_logs', 'tollgate_spend_tags']) await sql`analyze ${sql.table(table)}`.execute(ledger.storage.db);
  }, 60_000);
  afterAll(async () => {
    await ledger?.close();
  });

  /** The plans of a page of 50 rows and of its count. */
  async function plans(filter: LogFilter): Promise<{ page: string; count: string }> {
    ledger.captured.length = 0;
    await ledger.queries.logs(filter, { offset: 0, limit: 50 });
    await ledger.queries.countLogs(filter, 10_000);
    const [page, count] = ledger.captured;
    return { page: await ledger.explain(page!), count: await ledger.explain(count!) };
  }

  /** An index's name, or on PostgreSQL the names its partitions' indexes go by too. */
  async function indexNames(name: string): Promise<RegExp> {
    if (driver === 'sqlite') return new RegExp(`\\b${name}\\b`);
    const { rows } = await sql<{ relname: string }>`select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = to_regclass(${name})`.execute(ledger.storage.db);
    expect(rows.length).toBeGreaterThan(0);
    return new RegExp(`\\b(${rows.map((r) => r.relname).join('|')})\\b`);
  }

  it('reads failures newest first from their partial index, for a page and its count', async () => {
    const failed = await indexNames('tollgate_spend_logs_failed');
    for (const filter of [{ status: 'error' as const }, { status: 529 }]) {
      const p = await plans(filter);
      expect(p.page).toMatch(failed);
      expect(p.count).toMatch(failed);
    }
  });

  it('reports one key\'s tags from that key\'s rows, each row\'s tags looked up (a virtual key\'s console)', async () => {
    ledger.captured.length = 0;
    const groups = await ledger.queries.rowReport('tag', { apiKey: '7'.padStart(64, '0'), from: T0 });
    // Rows 7, 57, 107, … : tags t7, t57, t107 and t157, 30 rows each.
    expect(groups.map((g) => [g.key, g.requests])).toEqual([['t107', 30], ['t157', 30], ['t57', 30], ['t7', 30]]);
    const plan = await ledger.explain(ledger.captured[0]!);
    expect(plan).toMatch(await indexNames('tollgate_spend_logs_api_key'));
    if (driver === 'postgres') {
      expect(plan).toMatch(/Nested Loop/);
      expect(plan).toMatch(/Index Cond: .*= \(?l\.(request_id|start_time)/);
      expect(plan).not.toMatch(/Hash/);
    }
  });

  it('reads one model\'s rows from the model index', async () => {
    const model = await indexNames('tollgate_spend_logs_model');
    const p = await plans({ model: 'm-nobody' });
    expect(p.page).toMatch(model);
    expect(p.count).toMatch(model);
  });

  it('reads a tag\'s newest rows from the tag index in time order, sorting no more than ties, and counts them there', async () => {
    const tag = await indexNames('tollgate_spend_tags_tag');
    const p = await plans({ tag: 't7' });
    expect(p.page).toMatch(tag);
    // Counted from the tag's index entries alone.
    expect(p.count).toMatch(tag);
    expect(p.count).not.toMatch(/tollgate_spend_logs/);
    // The loop goes over the tag's index entries, newest first, and looks each row up.
    if (driver === 'sqlite') {
      expect(p.page.split('\n')[0]).toMatch(/^SEARCH t USING (COVERING )?INDEX tollgate_spend_tags_tag \(tag=\?\)$/);
      expect(p.page).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
    } else {
      // In time order from the tag index (ties sorted), each row by an index lookup with the
      // tag row's values; never hashing the ledger.
      expect(p.page).toMatch(/Presorted Key: t\.start_time/);
      expect(p.page).toMatch(/Nested Loop/);
      expect(p.page).toMatch(/Index Cond: \(\(?(start_time|request_id)\)?(::text)? = \(?t\.(start_time|request_id)/);
      expect(p.page).not.toMatch(/Hash/);
    }
  });
});
