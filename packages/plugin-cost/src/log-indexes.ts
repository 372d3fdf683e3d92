import { sql, type Kysely, type Migration } from '@tollgate/storage';

/**
 * Indexes for the request log's filters (the console's and `/spend/logs`'), so that a page of a
 * filtered log reads about that page on a ledger of millions of rows. Failures: a partial
 * index, which costs only the failed rows' inserts, for "newest failures first" and their
 * count. Models: one entry per row (a few per cent of the writer's cost per row, within the
 * noise of a 100,000-row A/B on SQLite), so a rare model, or one nobody used, does not scan
 * the ledger. On PostgreSQL an index on the partitioned table is made on every partition, and
 * on every partition made later.
 */
export const logIndexMigrations: Record<string, Migration> = {
  '014_log_filter_indexes': {
    async up(db: Kysely<any>) {
      await sql`create index tollgate_spend_logs_failed on tollgate_spend_logs (start_time) where status >= 400`.execute(db);
      await sql`create index tollgate_spend_logs_model on tollgate_spend_logs (model, start_time)`.execute(db);
    },
  },
};
