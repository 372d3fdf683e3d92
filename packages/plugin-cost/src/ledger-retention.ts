import { isPostgres, sql, type Kysely } from '@tollgate/storage';
import { settledOrAborted, type Logger } from '@tollgate/core';
import { DAYS_AHEAD, dropPartitionsBefore, ensurePartitions } from './ledger-partitions.js';
import { DAY_MS, dayOf, foldSpans, PER_KEY_ROLLUP, ROLLUPS, spanDays } from './ledger-rollups.js';
import type { LedgerStore } from './ledger-store.js';

export interface RetentionOptions {
  store: LedgerStore;
  log: Logger;
  /** Rows older than this many days are dropped; null keeps them. */
  retentionDays: number | null;
  /** Rollup days older than this are folded into day 0; null keeps every day. */
  rollupRetentionDays: number | null;
  /** Pause between runs; 0: never on its own. */
  everyMs: number;
  /** Now, for tests. */
  now?: () => number;
}

/** What one run of the ledger's maintenance did. */
export interface RetentionRun {
  /** PostgreSQL day partitions dropped. */
  droppedPartitions: number;
  /** SQLite rows deleted (PostgreSQL: rows of the default partition only). */
  deletedRows: number;
  /** Rollup rows folded into the all-time day 0. */
  foldedRollupRows: number;
  /** Another replica was running it: this run did nothing. */
  skipped?: true;
}

/** Rows one SQLite delete takes: short transactions, so the writer's inserts never wait long. */
const DELETE_CHUNK = 5000;
const LOCK = 'tollgate.ledger_maintenance';

/**
 * Keeps the ledger's size in hand, off the request path: makes PostgreSQL's day partitions
 * ahead of time, drops rows past `retentionDays` (whole partitions on PostgreSQL; batched
 * deletes on SQLite's writer thread), and folds rollup days past `rollupRetentionDays` into
 * one all-time row per group (day 0), so totals and budgets stay exact. One replica at a time.
 */
export class LedgerRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionRun> | undefined;
  private closed = false;

  constructor(private readonly o: RetentionOptions) {}

  start(): void {
    if (this.o.everyMs <= 0) return;
    const tick = () => {
      this.runOnce()
        .catch((err: unknown) => this.o.log.warn({ err }, 'ledger maintenance failed; it runs again later'))
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, this.o.everyMs).unref();
        });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  runOnce(): Promise<RetentionRun> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops the runs; waits for the one running to end, but not once `signal` aborts. */
  async close(signal?: AbortSignal): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await settledOrAborted(this.running, signal);
  }

  private async run(): Promise<RetentionRun> {
    const { store } = this.o;
    const result = await store.exclusively(LOCK, async () => {
      const today = dayOf((this.o.now ?? Date.now)());
      const db = store.db as unknown as Kysely<any>;
      const out: RetentionRun = { droppedPartitions: 0, deletedRows: 0, foldedRollupRows: 0 };
      if (store.storage.driver === 'postgres') {
        await ensurePartitions(db, Array.from({ length: DAYS_AHEAD + 1 }, (_, i) => today + i));
      }
      if (this.o.retentionDays !== null) {
        const cutoffDay = today - this.o.retentionDays;
        if (store.storage.driver === 'postgres') out.droppedPartitions = await dropPartitionsBefore(db, cutoffDay);
        else out.deletedRows = await this.deleteSqliteRows(db, cutoffDay * DAY_MS);
      }
      if (this.o.rollupRetentionDays !== null && store.shape.rollups) out.foldedRollupRows = await foldRollups(db, today - this.o.rollupRetentionDays);
      return out;
    });
    const run = result ?? { droppedPartitions: 0, deletedRows: 0, foldedRollupRows: 0, skipped: true as const };
    if (run.droppedPartitions + run.deletedRows + run.foldedRollupRows > 0) this.o.log.info(run, 'ledger retention ran');
    return run;
  }

  /** Deletes rows (and their tags) older than `cutoff` a chunk at a time, on the writer thread. */
  private async deleteSqliteRows(db: Kysely<any>, cutoff: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { rows } = await sql<{ n: number }>`select count(*) as n from (select 1 from tollgate_spend_logs where start_time < ${cutoff} limit ${DELETE_CHUNK})`.execute(db);
      const n = Number(rows[0]?.n ?? 0);
      if (n === 0 || this.closed) return deleted;
      // The same rows for both deletes: the oldest, by the start_time index.
      const chunk = sql`select request_id from tollgate_spend_logs where start_time < ${cutoff} order by start_time limit ${DELETE_CHUNK}`;
      await this.o.store.storage.background.write([
        sql`delete from tollgate_spend_tags where request_id in (${chunk})`.compile(db),
        sql`delete from tollgate_spend_logs where request_id in (${chunk})`.compile(db),
      ]);
      deleted += n;
    }
  }
}

/**
 * Folds rollup days before `cutoffDay` (day 0 excepted) into day 0, adding sums and keeping
 * the earliest first and latest last time, in one transaction. Returns the rows folded.
 */
export async function foldRollups(db: Kysely<any>, cutoffDay: number): Promise<number> {
  let folded = 0;
  await db.transaction().execute(async (tx) => {
    const [lo, hi] = isPostgres(tx) ? ['least', 'greatest'] : ['min', 'max'];
    for (const spec of ROLLUPS) {
      // Spans of days follow the daily rollup they sum (folded before them: see ROLLUPS).
      if (spanDays(spec) > 1) {
        folded += await foldSpans(tx, spec, PER_KEY_ROLLUP, cutoffDay);
        continue;
      }
      const t = sql.table(spec.table);
      const keys = [...spec.group.slice(1).map((g) => g.column), ...(spec.each ? [spec.each.column] : [])];
      const sums = spec.add.map((a) => a.column);
      const refs = (names: string[]) => sql.join(names.map((n) => sql.ref(n)));
      const set = sql.join(
        [
          ...sums.map((c) => sql`${sql.ref(c)} = ${t}.${sql.ref(c)} + excluded.${sql.ref(c)}`),
          sql`first_time = ${sql.raw(lo)}(${t}.first_time, excluded.first_time)`,
          sql`last_time = ${sql.raw(hi)}(${t}.last_time, excluded.last_time)`,
        ],
        sql`, `,
      );
      const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${t} where day > 0 and day < ${cutoffDay}`.execute(tx);
      folded += Number(rows[0]?.n ?? 0);
      await sql`insert into ${t} (day, ${refs(keys)}, ${refs(sums)}, first_time, last_time)
        select 0, ${refs(keys)}, ${sql.join(sums.map((c) => sql`sum(${sql.ref(c)})`))}, min(first_time), max(last_time)
        from ${t} where day > 0 and day < ${cutoffDay} group by ${refs(keys)}
        on conflict (day, ${refs(keys)}) do update set ${set}`.execute(tx);
      await sql`delete from ${t} where day > 0 and day < ${cutoffDay}`.execute(tx);
    }
  });
  return folded;
}
