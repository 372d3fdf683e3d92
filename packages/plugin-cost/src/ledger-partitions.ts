import { isPostgres, sql, type Kysely, type Migration } from '@tollgate/storage';
import { DAY_MS, dayOf } from './ledger-rollups.js';

/**
 * PostgreSQL keeps the ledger's rows (and their tags) in one partition per UTC day, so
 * retention drops whole partitions (no DELETE, no bloat, no vacuum debt). A default partition
 * takes rows of days with no partition yet (a clock far off, a batch result booked for an old
 * day); the maintenance job makes the days ahead and moves such rows out when it can.
 * SQLite keeps one table and deletes in batches.
 */
export const PARTITIONED = ['tollgate_spend_logs', 'tollgate_spend_tags'] as const;
type Partitioned = (typeof PARTITIONED)[number];

/** How many days ahead of today the maintenance job keeps partitions ready. */
export const DAYS_AHEAD = 3;

const partitionName = (table: Partitioned, day: number) => `${table}_d${new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '')}`;
const DAY_SUFFIX = /_d(\d{4})(\d{2})(\d{2})$/;

/** The day a partition holds, from its name; undefined for the default partition. */
export function partitionDay(name: string): number | undefined {
  const m = DAY_SUFFIX.exec(name);
  return m ? dayOf(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
}

/** The day partitions of a table, by name, oldest first. */
export async function dayPartitions(db: Kysely<any>, table: Partitioned): Promise<{ name: string; day: number }[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
    where p.relname = ${table} and p.relnamespace = (select oid from pg_namespace where nspname = current_schema())`.execute(db);
  return rows
    .map((r) => ({ name: r.name, day: partitionDay(r.name) }))
    .filter((p): p is { name: string; day: number } => p.day !== undefined)
    .sort((a, b) => a.day - b.day);
}

/**
 * Makes the day partitions of these days that do not exist yet. While the default partition
 * holds rows, a new day's partition is filled with that day's rows from it in one transaction
 * (PostgreSQL refuses a partition whose rows sit in the default).
 */
export async function ensurePartitions(db: Kysely<any>, days: Iterable<number>): Promise<void> {
  const wanted = [...new Set(days)].sort((a, b) => a - b);
  for (const table of PARTITIONED) {
    const have = new Set((await dayPartitions(db, table)).map((p) => p.day));
    const missing = wanted.filter((day) => !have.has(day));
    if (missing.length === 0) continue;
    const strays = await sql`select 1 from ${sql.table(`${table}_default`)} limit 1`.execute(db);
    for (const day of missing) {
      const name = sql.table(partitionName(table, day));
      const [from, to] = [sql.lit(day * DAY_MS), sql.lit((day + 1) * DAY_MS)];
      if (strays.rows.length === 0) {
        await sql`create table ${name} partition of ${sql.table(table)} for values from (${from}) to (${to})`.execute(db);
        continue;
      }
      const move = async (tx: Kysely<any>) => {
        await sql`create table ${name} (like ${sql.table(table)} including defaults)`.execute(tx);
        await sql`with moved as (delete from ${sql.table(`${table}_default`)} where start_time >= ${from} and start_time < ${to} returning *)
          insert into ${name} select * from moved`.execute(tx);
        await sql`alter table ${sql.table(table)} attach partition ${name} for values from (${from}) to (${to})`.execute(tx);
      };
      await (db.isTransaction ? move(db) : db.transaction().execute(move));
    }
  }
}

/**
 * Drops the day partitions wholly older than `cutoffDay` and deletes older rows from the
 * default partition. Returns how many partitions went.
 */
export async function dropPartitionsBefore(db: Kysely<any>, cutoffDay: number): Promise<number> {
  let dropped = 0;
  for (const table of PARTITIONED) {
    for (const p of await dayPartitions(db, table)) {
      if (p.day >= cutoffDay) break;
      await sql`drop table if exists ${sql.table(p.name)}`.execute(db);
      dropped++;
    }
    await sql`delete from ${sql.table(`${table}_default`)} where start_time < ${cutoffDay * DAY_MS}`.execute(db);
  }
  return dropped;
}

const LOG_INDEXES = [
  sql`create index tollgate_spend_logs_start_time on tollgate_spend_logs (start_time)`,
  sql`create index tollgate_spend_logs_api_key on tollgate_spend_logs (api_key)`,
  sql`create index tollgate_spend_logs_end_user on tollgate_spend_logs (end_user) where end_user is not null`,
  sql`create index tollgate_spend_logs_batch_id on tollgate_spend_logs (batch_id) where batch_id is not null`,
  sql`create index tollgate_spend_logs_batch_creates on tollgate_spend_logs (start_time) where call_type = 'batches' and batch_id is not null`,
  sql`create index tollgate_spend_tags_tag on tollgate_spend_tags (tag, start_time)`,
  sql`create trigger tollgate_key_spend_insert after insert on tollgate_spend_logs
    referencing new table as inserted for each statement execute function tollgate_key_spend_insert()`,
  sql`create trigger tollgate_key_spend_update after update of spend on tollgate_spend_logs
    for each row when (new.api_key is not null and new.api_key = old.api_key and new.spend <> old.spend)
    execute function tollgate_key_spend_update()`,
];

export const partitionMigrations: Record<string, Migration> = {
  '009_daily_partitions': {
    // PostgreSQL only. The rows move into partitioned tables of the same shape; a partitioned
    // table's unique key must hold the partition column, so rows are unique per
    // (request_id, start_time): a replayed row has both the same, and is still skipped.
    async up(db: Kysely<any>) {
      if (!isPostgres(db)) return;
      for (const table of PARTITIONED) {
        await sql`alter table ${sql.table(table)} rename to ${sql.table(`${table}_unpartitioned`)}`.execute(db);
        await sql`create table ${sql.table(table)} (like ${sql.table(`${table}_unpartitioned`)} including defaults) partition by range (start_time)`.execute(db);
        await sql`create table ${sql.table(`${table}_default`)} partition of ${sql.table(table)} default`.execute(db);
      }
      // A partition for each day that has rows (the latest 400: older ones stay in the default),
      // and for today and the days ahead.
      const { rows } = await sql<{ day: number | string }>`
        select distinct start_time / ${sql.lit(DAY_MS)} as day from tollgate_spend_logs_unpartitioned order by day desc limit 400`.execute(db);
      const today = dayOf(Date.now());
      // The maintenance job makes the days further ahead.
      await ensurePartitions(db, [...rows.map((r) => Number(r.day)), today, today + 1]);
      for (const table of PARTITIONED) {
        await sql`insert into ${sql.table(table)} select * from ${sql.table(`${table}_unpartitioned`)}`.execute(db);
        await sql`drop table ${sql.table(`${table}_unpartitioned`)}`.execute(db);
      }
      // Keys and indexes once the old tables (and their index names) are gone.
      await sql`alter table tollgate_spend_logs add primary key (request_id, start_time)`.execute(db);
      await sql`alter table tollgate_spend_tags add constraint tollgate_spend_tags_pk primary key (request_id, tag, start_time)`.execute(db);
      for (const statement of LOG_INDEXES) await statement.execute(db);
    },
  },
};
