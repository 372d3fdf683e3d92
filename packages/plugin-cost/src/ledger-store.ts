import { isPostgres, sql, type BulkInsert, type Kysely, type Migration, type Storage } from '@tollgate/storage';
import { EncodedQueue } from './encoded-queue.js';
import type { Billing } from '@tollgate/core';
import { logIndexMigrations } from './log-indexes.js';
import { moneyMigrations } from './money-migration.js';
import { dayOf, keepWhen, rollupMigrations, ROLLUPS, type RowsMode } from './ledger-rollups.js';
import { endUserMigrations } from './end-user-store.js';
import { consoleRollupMigrations } from './console-rollups.js';
import { RollupQueries } from './rollup-queries.js';
import { partitionMigrations } from './ledger-partitions.js';
import { budgetExemptMigrations } from './budget-exempt.js';
import { weekRollupMigrations } from './week-rollup.js';
import type { SpendRow } from './spend-row.js';

type LogRow = Omit<SpendRow, 'request_tags' | 'spend' | 'unpriced' | 'stream' | 'aborted' | 'billing' | 'estimated' | 'budget_exempt'> & {
  billing: string | null;
  estimated: number;
  budget_exempt: number;
  request_tags: string;
  spend: string | number | bigint;
  unpriced: number;
  stream: number;
  aborted: number;
};
type Tables = {
  tollgate_spend_logs: LogRow;
  tollgate_spend_tags: { request_id: string; tag: string; start_time: number };
  tollgate_batches: {
    batch_id: string;
    api_key: string | null;
    key_alias: string | null;
    user_id: string | null;
    team_id: string | null;
    end_user: string | null;
    request_tags: string;
    created_at: number;
  };
  tollgate_batch_settlements: { batch_id: string; outcome: BatchSettlementOutcome; results_booked: number; settled_at: number };
  tollgate_key_spend: { api_key: string; spend: string };
};

/** How the settlement job closed a batch: its results were read, or the upstream no longer has them. */
export type BatchSettlementOutcome = 'ended' | 'gone';

export const ledgerMigrations: Record<string, Migration> = {
  '001_spend_logs': {
    async up(db: Kysely<any>) {
      let t = db.schema.createTable('tollgate_spend_logs').addColumn('request_id', 'varchar(200)', (c) => c.primaryKey());
      for (const name of ['upstream_request_id', 'message_id', 'call_type', 'model', 'api_key', 'key_alias', 'user_id', 'team_id', 'end_user', 'service_tier', 'inference_geo', 'speed', 'batch_id']) {
        t = t.addColumn(name, 'text');
      }
      t = t.addColumn('request_tags', 'text', (c) => c.notNull().defaultTo('[]'));
      for (const name of ['status', 'prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens', 'web_search_requests', 'unpriced', 'stream', 'aborted']) {
        t = t.addColumn(name, 'integer', (c) => c.notNull().defaultTo(0));
      }
      // Pico-USD: a bigint column, summed with exact integer arithmetic in both engines.
      await t
        .addColumn('spend', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('start_time', 'bigint', (c) => c.notNull())
        .addColumn('end_time', 'bigint', (c) => c.notNull())
        .addColumn('completion_start_time', 'bigint')
        .execute();
      // Every index costs each insert a B-tree write on the hot ledger path: only the lookups
      // that must not scan (a key's, an end user's, a batch's rows; date ranges) get one.
      for (const col of ['start_time', 'api_key', 'end_user', 'batch_id']) {
        await db.schema.createIndex(`tollgate_spend_logs_${col}`).on('tollgate_spend_logs').column(col).execute();
      }
      await db.schema
        .createTable('tollgate_spend_tags')
        .addColumn('request_id', 'varchar(200)', (c) => c.notNull())
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('start_time', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('tollgate_spend_tags_pk', ['request_id', 'tag'])
        .execute();
      await db.schema.createIndex('tollgate_spend_tags_tag').on('tollgate_spend_tags').columns(['tag', 'start_time']).execute();
      await db.schema
        .createTable('tollgate_batches')
        .addColumn('batch_id', 'varchar(200)', (c) => c.primaryKey())
        .addColumn('api_key', 'text')
        .addColumn('key_alias', 'text')
        .addColumn('user_id', 'text')
        .addColumn('team_id', 'text')
        .addColumn('end_user', 'text')
        .addColumn('request_tags', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '002_partial_indexes': {
    // Most rows have no end user and almost none a batch: rows without one stay out of those
    // indexes, so they cost the insert nothing. Lookups by a value (`= ?`) still use them.
    async up(db: Kysely<any>) {
      for (const col of ['end_user', 'batch_id']) {
        await db.schema.dropIndex(`tollgate_spend_logs_${col}`).execute();
        await db.schema.createIndex(`tollgate_spend_logs_${col}`).on('tollgate_spend_logs').column(col).where(sql.ref(col), 'is not', null).execute();
      }
    },
  },
  '003_batch_settlements': {
    // Batches the background settlement job has finished with. The partial index finds the
    // create calls (the only rows with call_type 'batches' and a batch_id) without scanning
    // every batch result, and costs ordinary inserts nothing.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tollgate_batch_settlements')
        .addColumn('batch_id', 'varchar(200)', (c) => c.primaryKey())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('results_booked', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('settled_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('tollgate_spend_logs_batch_creates')
        .on('tollgate_spend_logs')
        .column('start_time')
        .where(sql<boolean>`call_type = 'batches' and batch_id is not null`)
        .execute();
    },
  },
  '004_key_spend': {
    // PostgreSQL only (the database replicas share): each key's committed spend, kept by
    // triggers in the same transaction as the ledger rows, so every replica can read what all
    // of them booked (budgets). The insert trigger runs once per statement over the rows really
    // inserted (its transition table), so a replay (ON CONFLICT DO NOTHING) never counts twice
    // and a 500-row write touches each key's row once; repricing moves a key by the
    // difference. numeric: no overflow past 2^63 pico-dollars. The triggers come first: they
    // lock the ledger against inserts until this commits, so the backfill sees every row
    // committed before.
    async up(db: Kysely<any>) {
      if (!isPostgres(db)) return;
      await db.schema
        .createTable('tollgate_key_spend')
        .addColumn('api_key', 'varchar(200)', (c) => c.primaryKey())
        .addColumn('spend', sql`numeric(40, 0)`, (c) => c.notNull().defaultTo(0))
        .execute();
      await sql`
        create function tollgate_key_spend_insert() returns trigger language plpgsql as $$
        begin
          insert into tollgate_key_spend as k (api_key, spend)
            select api_key, sum(spend::numeric) from inserted where api_key is not null and spend <> 0 group by api_key
            on conflict (api_key) do update set spend = k.spend + excluded.spend;
          return null;
        end $$`.execute(db);
      await sql`create trigger tollgate_key_spend_insert after insert on tollgate_spend_logs
        referencing new table as inserted for each statement execute function tollgate_key_spend_insert()`.execute(db);
      await sql`
        create function tollgate_key_spend_update() returns trigger language plpgsql as $$
        begin
          insert into tollgate_key_spend as k (api_key, spend) values (new.api_key, new.spend::numeric - old.spend::numeric)
            on conflict (api_key) do update set spend = k.spend + excluded.spend;
          return null;
        end $$`.execute(db);
      await sql`create trigger tollgate_key_spend_update after update of spend on tollgate_spend_logs
        for each row when (new.api_key is not null and new.api_key = old.api_key and new.spend <> old.spend)
        execute function tollgate_key_spend_update()`.execute(db);
      await sql`insert into tollgate_key_spend (api_key, spend)
        select api_key, sum(spend::numeric) from tollgate_spend_logs where api_key is not null group by api_key having sum(spend::numeric) <> 0`.execute(db);
    },
  },
  '005_client_identity': {
    // The coding session, sub-agent and client program of a request (Claude Code), and who
    // paid the upstream. No index: they are report groupings over a time range, which the
    // start_time index narrows; a per-insert B-tree write is not worth it. Rows written
    // before have NULL billing, which reads as 'gateway' (the only kind there was).
    async up(db: Kysely<any>) {
      for (const name of ['session_id', 'agent_id', 'client', 'billing']) {
        await db.schema.alterTable('tollgate_spend_logs').addColumn(name, 'text').execute();
      }
    },
  },
  // Kysely runs migrations in name order; each issue's live in their own file.
  ...moneyMigrations,
  '007_upstream': {
    // The pool upstream (its name) each request went to: spend and cache use per key/workspace.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('tollgate_spend_logs').addColumn('upstream', 'text').execute();
    },
  },
  ...rollupMigrations,
  ...partitionMigrations,
  ...budgetExemptMigrations,
  ...logIndexMigrations,
  ...endUserMigrations,
  ...consoleRollupMigrations,
  ...weekRollupMigrations,
};

/** Who created a batch, and the upstream it lives on (null for batches created before the ledger named upstreams). */
export type BatchOwner = Omit<Tables['tollgate_batches'], 'request_tags'> & { request_tags: string[]; upstream: string | null };

/** What the ledger stores (the cost plugin's `ledger.rows` and `ledger.rollups`). */
export interface LedgerShape {
  rows: RowsMode;
  rollups: boolean;
}

/**
 * Fewest rows a write gives each connection it is split over: below it, another transaction's
 * own costs (its round trips, planning the insert) outweigh the work it takes off the others.
 */
export const MIN_ROWS_PER_CONNECTION = 250;

/** The spend ledger in the shared storage. Inserts are idempotent per request_id. */
export class LedgerStore {
  readonly db: Kysely<Tables>;

  /**
   * @param writeConnections PostgreSQL, `ledger.rows: all`: a write of at least
   * 2 × MIN_ROWS_PER_CONNECTION rows goes in as up to this many transactions at once, split by
   * key (see InsertSplit). 1: always one transaction.
   */
  constructor(
    readonly storage: Storage,
    readonly shape: LedgerShape = { rows: 'all', rollups: true },
    private readonly writeConnections = 1,
  ) {
    this.db = storage.db.withTables<Tables>() as unknown as Kysely<Tables>;
  }

  /**
   * Writes rows (and their tags) in one transaction, off the request path (an SQLite file is
   * written on a worker thread); rows already there are left alone.
   */
  async insert(batch: LedgerBatch): Promise<void> {
    if (batch.count === 0) return;
    const { rows, rollups } = this.shape;
    // PostgreSQL's partitioned tables are unique per (…, start_time): a replayed row has the same.
    const pg = this.storage.driver === 'postgres';
    const logs: BulkInsert = { table: 'tollgate_spend_logs', columns: LOG_COLUMNS, json: batch.logs, onConflictDoNothing: pg ? ['request_id', 'start_time'] : ['request_id'], keepWhen: keepWhen(rows) };
    if (rollups) logs.rollups = ROLLUPS;
    const batches = [logs];
    if (batch.tags) batches.push({ table: 'tollgate_spend_tags', columns: TAG_COLUMNS, json: batch.tags, onConflictDoNothing: pg ? ['request_id', 'tag', 'start_time'] : ['request_id', 'tag'], parent: rows === 'all' ? undefined : 0 });
    const split = pg && this.writeConnections > 1 ? { by: 'api_key', parts: this.writeConnections, minRows: MIN_ROWS_PER_CONNECTION } : undefined;
    await this.storage.background.insert(batches, { split });
  }

  /**
   * Who created a batch: the ledger row of its create call (the only `batches` row with a
   * `batch_id`), else the `tollgate_batches` table that earlier versions wrote (read, no longer written).
   */
  async batchOwner(batchId: string): Promise<BatchOwner | undefined> {
    const row =
      (await this.db
        .selectFrom('tollgate_spend_logs')
        .select(['batch_id', 'api_key', 'key_alias', 'user_id', 'team_id', 'end_user', 'request_tags', 'start_time as created_at', 'upstream'])
        .where('batch_id', '=', batchId)
        .where('call_type', '=', 'batches')
        .orderBy('start_time')
        .executeTakeFirst()) ?? (await this.db.selectFrom('tollgate_batches').selectAll().where('batch_id', '=', batchId).executeTakeFirst());
    if (!row) return undefined;
    const upstream = 'upstream' in row ? row.upstream : null;
    return { ...row, batch_id: batchId, created_at: Number(row.created_at), request_tags: JSON.parse(row.request_tags) as string[], upstream };
  }

  /** request_ids of a batch's results already in the ledger. */
  async settledResults(batchId: string): Promise<Set<string>> {
    const rows = await this.db.selectFrom('tollgate_spend_logs').select('request_id').where('batch_id', '=', batchId).where('call_type', '=', 'batch_result').execute();
    return new Set(rows.map((r) => r.request_id));
  }

  /**
   * Batches created through the gateway since `since` (epoch ms) that the settlement job has
   * not closed, oldest first, at most `limit`.
   */
  async unsettledBatches(since: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('tollgate_spend_logs as l')
      .select('l.batch_id')
      // The partial index's own condition, spelled the same, so SQLite uses it.
      .where(sql<boolean>`call_type = 'batches' and batch_id is not null`)
      .where('l.start_time', '>=', since)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('tollgate_batch_settlements as s').select('s.batch_id').whereRef('s.batch_id', '=', 'l.batch_id'))))
      .orderBy('l.start_time')
      .limit(limit)
      .execute();
    return [...new Set(rows.map((r) => r.batch_id!))];
  }

  /**
   * Runs `fn` unless another gateway on this database is running it under the same `lock`:
   * then resolves to undefined without running it. PostgreSQL: a session advisory lock held on
   * one reserved connection while `fn` runs (the server drops it if this process dies), named
   * with the connection's schema, since advisory locks span the whole database and deployments
   * in other schemas are not replicas of this one. SQLite just runs `fn`: no two gateways share
   * a file.
   */
  async exclusively<T>(lock: string, fn: () => Promise<T>): Promise<T | undefined> {
    if (this.storage.driver !== 'postgres') return fn();
    const key = sql`hashtext(current_schema() || ':' || ${lock})`;
    return this.db.connection().execute(async (conn) => {
      const { rows } = await sql<{ taken: boolean }>`select pg_try_advisory_lock(${key}) as taken`.execute(conn);
      if (!rows[0]?.taken) return undefined;
      try {
        return await fn();
      } finally {
        await sql`select pg_advisory_unlock(${key})`.execute(conn);
      }
    });
  }

  /**
   * True for a write error the rows caused (a value the database refuses), false for the
   * database being unavailable. PostgreSQL: data exceptions (class 22: a NUL in text, a number
   * out of range, a string too long), constraint violations (23), and program limits (54: an
   * index row too large, 54000, for a long end user or tag; a statement too large): each is
   * about what was sent, so the rows are retried one by one and only the ones still refused are
   * set aside. SQLite: constraint and type errors, a value too big.
   */
  isRowError(err: unknown): boolean {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code !== 'string') return false;
    return this.storage.driver === 'postgres' ? /^(22|23|54)[0-9A-Z]{3}$/.test(code) : /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code);
  }

  /** Records that the settlement job is done with a batch (idempotent). */
  async markSettled(batchId: string, outcome: BatchSettlementOutcome, resultsBooked: number): Promise<void> {
    await this.db
      .insertInto('tollgate_batch_settlements')
      .values({ batch_id: batchId, outcome, results_booked: resultsBooked, settled_at: Date.now() })
      .onConflict((oc) => oc.column('batch_id').doNothing())
      .execute();
  }

  /**
   * The committed spend of these keys as budgets count it, as every replica booked it
   * (PostgreSQL only: undefined on SQLite, which no two gateways share).
   */
  async sharedKeySpend(tokens: readonly string[]): Promise<Map<string, bigint> | undefined> {
    if (this.storage.driver !== 'postgres') return undefined;
    // tollgate_key_spend is kept by triggers on the rows: without every row, the rollups know.
    if (this.shape.rows !== 'all') return new RollupQueries(this.db).keySpend(tokens);
    const out = new Map<string, bigint>();
    for (let i = 0; i < tokens.length; i += 1000) {
      const rows = await this.db
        .selectFrom('tollgate_key_spend')
        .select(['api_key', sql<string>`cast(spend as text)`.as('spend')])
        .where('api_key', 'in', tokens.slice(i, i + 1000))
        .execute();
      for (const r of rows) out.set(r.api_key, BigInt(r.spend));
    }
    return out;
  }

  /** Each key's all-time spend as budgets count it (rows marked `budget_exempt` left out): the running totals' start. */
  async keyBudgetTotals(): Promise<Map<string, bigint>> {
    if (this.shape.rollups) return new RollupQueries(this.db).keyBudgetTotals();
    const rows = await this.db
      .selectFrom('tollgate_spend_logs')
      .select(['api_key as k', ...exactSpendSum(sql.ref('spend'))])
      .where('api_key', 'is not', null)
      .where('budget_exempt', '=', 0)
      .groupBy('api_key')
      .execute();
    return new Map(rows.map((r) => [r.k!, joinSpendSum(r)]));
  }

  /**
   * Committed spend of these end users in requests that started at `from` (epoch ms) or later;
   * all of it when undefined. With rollups `from` must be a UTC midnight (they are per day).
   */
  async endUserSpend(endUsers: readonly string[], from?: number): Promise<Map<string, bigint>> {
    if (this.shape.rollups) return new RollupQueries(this.db).endUserSpend(endUsers, from === undefined ? undefined : dayOf(from));
    return spendPerValue(endUsers, (chunk) =>
      this.db
        .selectFrom('tollgate_spend_logs')
        .select(['end_user as k', ...exactSpendSum(sql.ref('spend'))])
        .where('end_user', 'in', chunk)
        .$if(from !== undefined, (q) => q.where('start_time', '>=', from!))
        .groupBy('end_user')
        .execute(),
    );
  }

  /** Exact spend per value of a column (or per tag), every row counted (reports). */
  async totalsBy(dimension: 'api_key' | 'user_id' | 'team_id' | 'end_user' | 'tag'): Promise<Map<string, bigint>> {
    if (this.shape.rollups) return new RollupQueries(this.db).totalsBy(dimension);
    const rows =
      dimension === 'tag'
        ? await this.db
            .selectFrom('tollgate_spend_tags as t')
            .innerJoin('tollgate_spend_logs as l', 'l.request_id', 't.request_id')
            .select(['t.tag as k', ...exactSpendSum(sql.ref('l.spend'))])
            .groupBy('t.tag')
            .execute()
        : await this.db
            .selectFrom('tollgate_spend_logs')
            .select([`${dimension} as k` as 'api_key as k', ...exactSpendSum(sql.ref('spend'))])
            .where(dimension, 'is not', null)
            .groupBy(dimension)
            .execute();
    return new Map(rows.map((r) => [String(r.k), joinSpendSum(r)]));
  }
}

const PICO_PER_MICRO = 1_000_000;

/**
 * Exact sum of a pico-dollar column in both engines. SQLite's integer sum() fails past 2^63
 * (about $9.2M), so whole micro-dollars and pico remainders are summed apart; `joinSpendSum`
 * puts them back together.
 */
export function exactSpendSum(column: ReturnType<typeof sql.ref>) {
  return [
    sql<string | null>`cast(sum(${column} / ${sql.lit(PICO_PER_MICRO)}) as text)`.as('spend_micro'),
    sql<string | null>`cast(sum(${column} % ${sql.lit(PICO_PER_MICRO)}) as text)`.as('spend_rest'),
  ] as const;
}

export function joinSpendSum(r: { spend_micro: string | null; spend_rest: string | null }): bigint {
  return BigInt(r.spend_micro ?? '0') * BigInt(PICO_PER_MICRO) + BigInt(r.spend_rest ?? '0');
}

/**
 * Exact spend per value of `values`, asked 1,000 values at a time (an IN list stays within
 * SQLite's and PostgreSQL's parameter limits); `query` sums one chunk's rows grouped as `k`.
 */
export async function spendPerValue(
  values: readonly string[],
  query: (chunk: readonly string[]) => Promise<Array<{ k: string | null; spend_micro: string | null; spend_rest: string | null }>>,
): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (let i = 0; i < values.length; i += 1000) for (const r of await query(values.slice(i, i + 1000))) out.set(r.k!, joinSpendSum(r));
  return out;
}

export const LOG_COLUMNS = [
  'request_id', 'upstream_request_id', 'message_id', 'call_type', 'model', 'api_key', 'key_alias', 'user_id', 'team_id', 'end_user',
  'request_tags', 'status', 'prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens', 'cache_read_input_tokens',
  'cache_creation_input_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens', 'web_search_requests', 'service_tier',
  'inference_geo', 'speed', 'spend', 'unpriced', 'stream', 'aborted', 'batch_id', 'start_time', 'end_time', 'completion_start_time',
  'session_id', 'agent_id', 'client', 'billing', 'served_model', 'estimated', 'upstream', 'budget_exempt',
] as const satisfies readonly (keyof SpendRow)[];
// Fails to compile when SpendRow gains a field LOG_COLUMNS does not write.
const everyColumnWritten: [Exclude<keyof SpendRow, (typeof LOG_COLUMNS)[number]>] extends [never] ? true : false = true;
void everyColumnWritten;
const TAG_COLUMNS = ['request_id', 'tag', 'start_time'] as const;

/**
 * A ledger row as the JSON texts the database writer takes, made once, when the row is queued
 * (see EncodedQueue): its values in LOG_COLUMNS order, and its tollgate_spend_tags rows
 * joined by commas ('' without tags).
 */
export interface LedgerEntry {
  readonly log: string;
  readonly tags: string;
}

/** Rows ready for one database write: JSON arrays of LOG_COLUMNS and TAG_COLUMNS rows. */
export interface LedgerBatch {
  readonly count: number;
  readonly logs: Uint8Array;
  /** Absent when no row has tags. */
  readonly tags?: Uint8Array;
}

/** Encodes a row for the writer (see LedgerEntry). */
export function ledgerEntry(r: SpendRow): LedgerEntry {
  let tags = '';
  for (const tag of r.request_tags) tags += `${tags === '' ? '' : ','}${JSON.stringify([r.request_id, tag, r.start_time])}`;
  return { log: JSON.stringify(logValues(r)), tags };
}

/** Ledger rows encoded as they are queued, taken off in batches (see EncodedQueue). */
export class LedgerQueue {
  private readonly logs = new EncodedQueue();
  private readonly tags = new EncodedQueue();

  get length(): number {
    return this.logs.length;
  }

  push(row: SpendRow): void {
    const entry = ledgerEntry(row);
    this.logs.push(entry.log);
    this.tags.push(entry.tags);
  }

  /** The first `count` rows (at least one) as one batch, removed from the queue. */
  take(count: number): LedgerBatch {
    return { count, logs: this.logs.take(count)!, tags: this.tags.take(count) };
  }
}

/** A batch of one or more rows, encoded at once (spool replays, tests). */
export function ledgerBatch(rows: readonly SpendRow[]): LedgerBatch {
  const queue = new LedgerQueue();
  for (const row of rows) queue.push(row);
  return queue.take(rows.length);
}

/** The rows of a batch (for the spool, which keeps row objects). */
export function batchRows(batch: LedgerBatch): SpendRow[] {
  const rows = JSON.parse(Buffer.from(batch.logs.buffer, batch.logs.byteOffset, batch.logs.byteLength).toString('utf8')) as unknown[][];
  return rows.map(rowOf);
}

function rowOf(values: unknown[]): SpendRow {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < LOG_COLUMNS.length; i++) row[LOG_COLUMNS[i]!] = values[i];
  const flag = (v: unknown) => v === 1;
  return {
    ...(row as unknown as SpendRow),
    request_tags: JSON.parse(row.request_tags as string) as string[],
    spend: BigInt(row.spend as string),
    unpriced: flag(row.unpriced),
    stream: flag(row.stream),
    aborted: flag(row.aborted),
    // Spooled by a version without these columns: the array is shorter.
    upstream: (row.upstream as string | undefined) ?? null,
    session_id: (row.session_id as string | undefined) ?? null,
    agent_id: (row.agent_id as string | undefined) ?? null,
    client: (row.client as string | undefined) ?? null,
    billing: (row.billing as Billing | undefined) ?? 'gateway',
    estimated: flag(row.estimated),
    budget_exempt: flag(row.budget_exempt),
  };
}

/** A row's values in LOG_COLUMNS order, as both engines store them. */
function logValues(r: SpendRow): unknown[] {
  const out = new Array<unknown>(LOG_COLUMNS.length);
  for (let i = 0; i < LOG_COLUMNS.length; i++) {
    const v = r[LOG_COLUMNS[i]!];
    out[i] = typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'bigint' ? v.toString() : Array.isArray(v) ? JSON.stringify(v) : v;
  }
  return out;
}
