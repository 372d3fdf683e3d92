import { sql, type CompiledQuery, type Kysely, type Storage } from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { SpendQueries } from '../src/spend-queries.js';
import type { SpendRow } from '../src/spend-row.js';

/** A priced, successful, untagged messages row at `start`: tests override what they vary. */
export function planRow(id: string, start: number, fields: Partial<SpendRow>): SpendRow {
  return {
    request_id: id, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'm', api_key: 'k',
    key_alias: null, user_id: null, team_id: null, end_user: null, request_tags: [], status: 200,
    prompt_tokens: 1, completion_tokens: 1, input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0, cache_creation_input_tokens: 0,
    cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0, service_tier: null, inference_geo: null, speed: null,
    spend: 1n, unpriced: false, stream: false, aborted: false, batch_id: null, start_time: start, end_time: start + 1,
    completion_start_time: null, session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null,
    ...fields,
  };
}

/**
 * A ledger of `count` rows for checking query plans: the SpendQueries the routes use, over a
 * connection that keeps every compiled query (`captured`), and `explain` for one of them. What
 * such a query costs on a large ledger is which index it reads, not how long a test ledger takes.
 */
export interface PlanLedger {
  storage: Storage;
  store: LedgerStore;
  queries: SpendQueries;
  /** The queries compiled since the test last emptied it, in order. */
  captured: CompiledQuery[];
  /** The plan the database chooses for `q`: on PostgreSQL, as on a ledger too large to scan. */
  explain(q: CompiledQuery): Promise<string>;
  close(): Promise<void>;
}

export async function openPlanLedger(driver: 'sqlite' | 'postgres', row: (i: number) => SpendRow, count = 6000): Promise<PlanLedger> {
  const tdb: TestDatabase = await createTestDatabase(driver);
  const storage = await tdb.open();
  await storage.migrate('cost', ledgerMigrations);
  const store = new LedgerStore(storage);
  for (let i = 0; i < count; i += 1000) await store.insert(ledgerBatch(Array.from({ length: Math.min(1000, count - i) }, (_, j) => row(i + j))));
  const captured: CompiledQuery[] = [];
  const spy: Kysely<any> = (storage.db as Kysely<any>).withPlugin({
    transformQuery: ({ node, queryId }) => (captured.push(spy.getExecutor().compileQuery(node, queryId)), node),
    transformResult: async ({ result }) => result,
  });
  const explain = (q: CompiledQuery) =>
    storage.db.connection().execute(async (conn) => {
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
  return {
    storage,
    store,
    queries: new SpendQueries(spy as never, store.shape),
    captured,
    explain,
    async close() {
      await storage.close();
      await tdb.drop();
    },
  };
}
