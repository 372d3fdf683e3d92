import { isPostgres, sql, type Kysely, type Migration } from '@tollgate/storage';
import { createRollupTable, fillFromRollup, PER_KEY_ROLLUP, PER_TEAM_ROLLUP, PER_USER_ROLLUP } from './ledger-rollups.js';

/** The end-user rollup's index by end user and day that holds the spend too (migration 015). */
export const END_USER_SPEND_INDEX = 'tollgate_spend_daily_end_user_spend';

/**
 * What the console's overview reads over a window, on a ledger of millions of rows (issue 19).
 *
 * Top users and teams: rollups of their own (one row per user, or team, a day), where the
 * per-key rollup has one row per key a day. Made like the per-key rollup (clustered by day) and
 * filled from it, so they count every request whatever ledger.rows kept.
 *
 * Top end users: there are about as many end-user rollup rows as requests when end users call
 * once or twice a day, so a window's top end users add up a row per request however it is
 * read. The `(end_user, day)` index becomes one that also holds the spend: the top ones are
 * picked by adding up the index alone, in end-user order (no sort of the window's rows, no
 * hash table spilling to disk on PostgreSQL); the other sums are then read for those few.
 * It still serves one end user's lookups (budgets, /customer/info). The price: on PostgreSQL
 * an update of an end-user rollup row writes index entries (spend is indexed now) instead of
 * staying in its page, and on SQLite the index entry is rewritten with the row.
 */
export const consoleRollupMigrations: Record<string, Migration> = {
  '015_console_rollups': {
    async up(db: Kysely<any>) {
      for (const spec of [PER_USER_ROLLUP, PER_TEAM_ROLLUP]) {
        await createRollupTable(db, spec, { clustered: true });
        await fillFromRollup(db, spec, PER_KEY_ROLLUP);
      }
      await db.schema.dropIndex('tollgate_spend_daily_end_user').execute();
      await (isPostgres(db)
        ? sql`create index ${sql.id(END_USER_SPEND_INDEX)} on tollgate_spend_daily_end_users (end_user, day) include (spend_micro, spend_rest)`
        : sql`create index ${sql.id(END_USER_SPEND_INDEX)} on tollgate_spend_daily_end_users (end_user, day, spend_micro, spend_rest)`
      ).execute(db);
    },
  },
};
