import { isPostgres, sql, type Kysely, type Migration } from '@tollgate/storage';
import { BUDGET_ROLLUPS } from './ledger-rollups.js';

/**
 * Spend booked but left out of budgets: a client's own credential on a key whose budget does
 * not count it (the auth plugin decides per request, `ctx.budgetExempt`). The row says so in
 * `budget_exempt`; the key and end-user rollups keep that spend apart (`exempt_micro`,
 * `exempt_rest`) and PostgreSQL's `tollgate_key_spend` leaves it out, so every total a budget
 * reads (at start, from the replicas, after rows or rollup days are gone) agrees with the
 * running count. Rows from before this migration were counted, and stay counted: budget
 * windows already rolled on them.
 */
export const budgetExemptMigrations: Record<string, Migration> = {
  '011_budget_exempt': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('tollgate_spend_logs').addColumn('budget_exempt', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      for (const { table } of BUDGET_ROLLUPS) {
        for (const column of ['exempt_micro', 'exempt_rest']) await db.schema.alterTable(table).addColumn(column, 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      }
      if (!isPostgres(db)) return;
      await sql`
        create or replace function tollgate_key_spend_insert() returns trigger language plpgsql as $$
        begin
          insert into tollgate_key_spend as k (api_key, spend)
            select api_key, sum(spend::numeric) from inserted where api_key is not null and spend <> 0 and budget_exempt = 0 group by api_key
            on conflict (api_key) do update set spend = k.spend + excluded.spend;
          return null;
        end $$`.execute(db);
      await sql`
        create or replace function tollgate_key_spend_update() returns trigger language plpgsql as $$
        begin
          if new.budget_exempt = 0 then
            insert into tollgate_key_spend as k (api_key, spend) values (new.api_key, new.spend::numeric - old.spend::numeric)
              on conflict (api_key) do update set spend = k.spend + excluded.spend;
          end if;
          return null;
        end $$`.execute(db);
    },
  },
  '017_key_spend_in_key_order': {
    // The insert trigger locks each key's total in key order (GROUP BY alone hands them out in
    // hash order): two writers whose rows share keys (replicas; above all with
    // ledger.rollups: false, where no ordered rollup upsert comes first) then wait for one
    // another instead of deadlocking, which cost a failed write, a spool and a replay.
    async up(db: Kysely<any>) {
      if (!isPostgres(db)) return;
      await sql`
        create or replace function tollgate_key_spend_insert() returns trigger language plpgsql as $$
        begin
          insert into tollgate_key_spend as k (api_key, spend)
            select api_key, sum(spend::numeric) from inserted where api_key is not null and spend <> 0 and budget_exempt = 0 group by api_key order by api_key
            on conflict (api_key) do update set spend = k.spend + excluded.spend;
          return null;
        end $$`.execute(db);
    },
  },
};
