import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type CompiledQuery, type Kysely, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { SpendQueries, type LogFilter } from '../src/spend-queries.js';
import type { SpendRow } from '../src/spend-row.js';

// What the request log's filters cost on a large ledger is which index they read, not how long
// a tiny test ledger takes: these check the plans the databases choose for a page (and its
// count) of each filter the console offers.
const T0 = Date.parse('2021-05-01T00:00:00Z');

function row(i: number): SpendRow {
  return {
    request_id: `plan-${i}`, upstream_request_id: null, message_id: null, call_type: 'messages', model: ['m-a', 'm-b', 'm-c'][i % 3]!, api_key: String(i % 50).padStart(64, '0'),
    key_alias: 'planner', user_id: null, team_id: null, end_user: null, request_tags: [`t${i % 200}`], status: i % 50 === 0 ? 529 : 200,
    prompt_tokens: 1, completion_tokens: 1, input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0, cache_creation_input_tokens: 0,
    cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0, service_tier: null, inference_geo: null, speed: null,
    spend: 1n, unpriced: false, stream: false, aborted: false, batch_id: null, start_time: T0 + i * 1000, end_time: T0 + i * 1000 + 1,
    completion_start_time: null, session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null,
  };
}

describe.each(DRIVERS)('the request log\'s query plans on %s', (driver) => {
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
    // PostgreSQL analyzes tables by itself; the gateway never runs ANALYZE on SQLite, whose
    // plans must hold without statistics.
    if (driver === 'postgres') for (const table of ['tollgate_spend_logs', 'tollgate_spend_tags']) await sql`analyze ${sql.table(table)}`.execute(storage.db);
    // The queries as the routes run them, compiled, to be explained.
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

  /** The plans of a page of 50 rows and of its count. */
  async function plans(filter: LogFilter): Promise<{ page: string; count: string }> {
    captured.length = 0;
    await queries.logs(filter, { offset: 0, limit: 50 });
    await queries.countLogs(filter, 10_000);
    const [page, count] = captured;
    return { page: await explain(page!), count: await explain(count!) };
  }

  async function explain(q: CompiledQuery): Promise<string> {
    return storage.db.connection().execute(async (conn) => {
      if (driver === 'sqlite') {
        const r = await conn.executeQuery<{ detail: string }>({ ...q, sql: `explain query plan ${q.sql}` });
        return r.rows.map((x) => x.detail).join('\n');
      }
      // A few thousand rows are cheaper to scan than to look up: ask for what the plan would be
      // on a ledger too large to scan.
      await sql`set enable_seqscan = off`.execute(conn);
      try {
        const r = await conn.executeQuery<{ 'QUERY PLAN': string }>({ ...q, sql: `explain ${q.sql}` });
        return r.rows.map((x) => x['QUERY PLAN']).join('\n');
      } finally {
        await sql`reset enable_seqscan`.execute(conn);
      }
    });
  }

  /** An index's name, or on PostgreSQL the names its partitions' indexes go by too. */
  async function indexNames(name: string): Promise<RegExp> {
    if (driver === 'sqlite') return new RegExp(`\\b${name}\\b`);
    const { rows } = await sql<{ relname: string }>`select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = to_regclass(${name})`.execute(storage.db);
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
    captured.length = 0;
    const groups = await queries.rowReport('tag', { apiKey: '7'.padStart(64, '0'), from: T0 });
    // Rows 7, 57, 107, … : tags t7, t57, t107 and t157, 30 rows each.
    expect(groups.map((g) => [g.key, g.requests])).toEqual([['t107', 30], ['t157', 30], ['t57', 30], ['t7', 30]]);
    const plan = await explain(captured[0]!);
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
