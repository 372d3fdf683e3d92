import type { Kysely, Migration } from '@tollgate/storage';

/**
 * Issue 16's ledger columns: the model that served a turn (server-side fallback can differ
 * from the requested `model`), and whether `spend` is an estimate awaiting a price.
 */
export const moneyMigrations: Record<string, Migration> = {
  '006_served_model_estimated': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('tollgate_spend_logs').addColumn('served_model', 'text').execute();
      await db.schema.alterTable('tollgate_spend_logs').addColumn('estimated', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
};
