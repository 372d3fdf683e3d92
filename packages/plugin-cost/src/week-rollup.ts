import { isPostgres, sql, type Kysely, type Migration } from '@tollgate/storage';
import { createRollupTable, PER_KEY_ROLLUP, PER_KEY_WEEK_ROLLUP, spanFill } from './ledger-rollups.js';

export const weekRollupMigrations: Record<string, Migration> = {
  '016_per_key_week_rollup': {
    // A 30-day report by key read 30 days × every busy key of the per-key rollup (150,000 rows
    // at 5,000 keys: 0.4-0.7 s at 10M rows); its whole weeks now come from here. Filled from
    // the per-key rollup, which holds every request whatever ledger.rows keeps.
    async up(db: Kysely<any>) {
      await createRollupTable(db, PER_KEY_WEEK_ROLLUP, { clustered: true });
      await spanFill(PER_KEY_WEEK_ROLLUP, PER_KEY_ROLLUP, 0).execute(db);
      if (isPostgres(db)) await sql`analyze ${sql.table(PER_KEY_WEEK_ROLLUP.table)}`.execute(db);
    },
  },
};
