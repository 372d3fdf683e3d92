import { Worker } from 'node:worker_threads';
import { hash32 } from '@tollgate/core';
import { CompiledQuery, type Kysely } from 'kysely';
import { keeper, rollupSet, rollupUpsertSql, type KeepWhen, type RollupSpec } from './rollup.mjs';
import { isPostgres } from './migrate.js';
import { PgBulk } from './pg-bulk.js';

/**
 * Rows for one table, as arrays of values in `columns` order (strings, numbers, bigints or
 * null). Cheaper to build and to hand to the writer thread than a compiled multi-row INSERT.
 * Either `rows`, or `json`: the same rows as JSON text (an array of arrays; numbers beyond
 * 2^53 as decimal strings), as a string or UTF-8 bytes. JSON suits rows encoded as they were
 * made and queued off the JS heap: the SQLite writer thread then gets bytes, not a structured
 * clone of every row.
 */
export type BulkInsert = {
  table: string;
  columns: readonly string[];
  /** A unique key: rows that collide with an existing row on it are skipped. */
  onConflictDoNothing?: readonly string[];
  /** Which rows are stored (default all): none, or those where any listed column is at least its bound. */
  keepWhen?: KeepWhen;
  /**
   * Rollup tables these rows add into, in the same transaction: a row counts once, when it is
   * stored now (a row already there from an earlier write is not counted again), or always
   * when `keepWhen` does not store it.
   */
  rollups?: readonly RollupSpec[];
  /** Store only rows whose first column is the first column of a row the insert at this index (earlier in the same write) kept: a row's tags. */
  parent?: number;
} & ({ rows: readonly (readonly unknown[])[]; json?: undefined } | { json: string | Uint8Array; rows?: undefined });

/**
 * Set on every SQLite connection (the main one and the writer thread's).
 *
 * `cache_size`: SQLite's own default of 2 MB of page cache per connection. better-sqlite3
 * builds SQLite with 16 MB (SQLITE_DEFAULT_CACHE_SIZE=-16000), and the ledger writer, which
 * only appends, filled it within seconds under load: ~20 MiB of RSS (smaps, default pipeline,
 * 164 -> 142 MiB) that bought nothing, since inserts touch only the right edge of each B-tree
 * and reads go through the OS page cache. The writer thread's CPU per row is the same.
 */
export const SQLITE_PRAGMAS = ['journal_mode = WAL', 'synchronous = NORMAL', 'cache_size = -2000'] as const;

/**
 * PostgreSQL: how a large write may be spread over several transactions that run at once, each
 * on its own connection (the database then works on it with as many cores). The rows of the
 * first insert are split by the value of column `by` (all rows of one value in one part, so two
 * parts never update the same running-total or rollup rows of that value), and the rows of each
 * later insert follow the row whose first column they share (a ledger row's tags). At most
 * `parts` parts, of at least `minRows` rows each.
 *
 * Split only where writing a part again is harmless: every insert stores all its rows (no
 * `keepWhen`, no `parent`) with `onConflictDoNothing`, so a part that committed before another
 * part failed is skipped when the caller writes the whole batch again, and its rollups are not
 * counted twice. Otherwise the write stays one transaction.
 */
export interface InsertSplit {
  by: string;
  parts: number;
  minRows: number;
}

/** Runs batches of writes, each batch in one transaction, away from the request path. */
export interface BackgroundWriter {
  /** Runs the queries in order, in one transaction. */
  write(queries: readonly CompiledQuery[]): Promise<void>;
  /**
   * Inserts every batch in order, in one transaction; on PostgreSQL, with `split`, possibly in
   * several at once (see InsertSplit). Rejects when any of them failed.
   */
  insert(batches: readonly BulkInsert[], o?: { split?: InsertSplit }): Promise<void>;
  /** Waits for the write running at most `waitMs`, then stops. */
  close(waitMs: number): Promise<void>;
}

/**
 * SQLite writes on a worker thread with its own connection (WAL lets it write while the main
 * connection reads); an in-memory database, which a second connection cannot see, writes in
 * place.
 */
export function sqliteBackgroundWriter(file: string, db: Kysely<any>): BackgroundWriter {
  if (file === ':memory:') return inPlaceWriter(db);
  const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let worker: Worker | undefined;
  let next = 0;
  // A thread that died fails what it held; the next write starts a fresh one.
  const lost = (w: Worker, err: Error) => {
    if (worker !== w) return;
    worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const start = (): Worker => {
    // The thread holds one batch at a time: a small young generation keeps its heap (and the
    // gateway's RSS) from growing to V8's defaults, sized for a busy main thread.
    const w = new Worker(new URL('./sqlite-worker.mjs', import.meta.url), { workerData: { file, pragmas: SQLITE_PRAGMAS }, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    w.unref();
    w.on('message', (m: { id: number; error?: string; code?: string }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
      if (!p) return;
      if (m.error === undefined) p.resolve();
      else p.reject(Object.assign(new Error(m.error), { code: m.code }));
    });
    w.on('error', (err) => lost(w, err));
    w.on('exit', (code) => lost(w, new Error(`the SQLite writer thread exited (${code})`)));
    return w;
  };
  const send = (msg: object, w: Worker) =>
    new Promise<void>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...msg, id });
    });
  return {
    write: (queries) => send({ queries: queries.map((q) => ({ sql: q.sql, parameters: q.parameters })) }, (worker ??= start())),
    async insert(batches) {
      // The worker prepares one statement per table and columns, and runs it once per row.
      const inserts = batches.map((b) => ({
        sql: insertSql(b),
        rows: b.rows,
        json: b.json,
        columns: b.columns,
        keepWhen: b.keepWhen,
        parent: b.parent,
        rollups: b.rollups?.map((spec) => ({ spec, sql: rollupUpsertSql(spec, 'sqlite') })),
      }));
      await send({ inserts }, (worker ??= start()));
    },
    async close(waitMs) {
      const w = worker;
      if (!w) return;
      // The thread answers once the write it runs is done: a write stuck on a full or stalled
      // disk is not waited for past waitMs (the ledger spooled its rows when it gave up on it).
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
      // A thread that fails to close is terminated all the same: nothing to report past that.
      await Promise.race([send({ close: true }, w).catch(() => undefined), late]);
      clearTimeout(timer);
      worker = undefined;
      await w.terminate();
    },
  };
}

/**
 * PostgreSQL (and in-memory SQLite): the driver is already off the request path, or must be
 * here. PostgreSQL takes each table's rows in one statement of column arrays (see PgBulk).
 */
export function inPlaceWriter(db: Kysely<any>): BackgroundWriter {
  const pg = isPostgres(db) ? new PgBulk() : undefined;
  return {
    async write(queries) {
      await db.transaction().execute(async (tx) => {
        for (const q of queries) await tx.executeQuery(q);
      });
    },
    async insert(batches, o) {
      const parts = pg && o?.split ? splitInserts(batches, o.split) : [batches];
      if (parts.length === 1) return insertAll(parts[0]!);
      // Every part runs to its end: a failed one fails the write only once the others are done.
      const results = await Promise.allSettled(parts.map(insertAll));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    async close() {},
  };

  async function insertAll(batches: readonly BulkInsert[]): Promise<void> {
    await db.transaction().execute(async (tx) => {
      const kept: (Set<unknown> | undefined)[] = [];
      for (const b of batches) {
        assertIdentifiers(b);
        const keep = keeper(b.columns, b.keepWhen);
        const parent = b.parent === undefined ? undefined : kept[b.parent];
        const rows = rowsOf(b).filter((r) => parent === undefined || parent.has(r[0]));
        const stored = rows.filter(keep);
        kept.push(b.keepWhen === undefined ? undefined : new Set(stored.map((r) => r[0])));
        if (pg && b.rollups) {
          // The database sums the rollups from the same column arrays (see insertWithRollups).
          await pg.insertWithRollups(tx, { ...b, rows, keep: rows.map(keep), rollups: b.rollups });
          continue;
        }
        const inserted = pg ? await pg.insert(tx, { ...b, rows: stored, returning: b.rollups !== undefined }) : await insertRows(tx, b, stored);
        if (!b.rollups) continue;
        const set = rollupSet(b.rollups, b.columns);
        for (const r of rows) if (!keep(r) || inserted.has(r[0])) set.add(r);
        for (const { spec, rows: sums } of set.rows()) await (pg ? pg.upsertRollup(tx, spec, sums) : upsertRollup(tx, spec, sums));
      }
    });
  }
}

/**
 * The inserts split into parts that can be written at once (see InsertSplit), or the inserts
 * alone when they may not be split or are too small to.
 */
export function splitInserts(batches: readonly BulkInsert[], split: InsertSplit): (readonly BulkInsert[])[] {
  const first = batches[0];
  if (!first || batches.some((b) => b.keepWhen !== undefined || b.parent !== undefined || b.onConflictDoNothing === undefined)) return [batches];
  const column = first.columns.indexOf(split.by);
  if (column === -1) throw new Error(`table ${first.table} has no column ${split.by} to split a write by`);
  const rows = batches.map(rowsOf);
  const n = Math.min(split.parts, Math.floor(rows[0]!.length / split.minRows));
  // Parsed once here: the parts are handed on as rows.
  if (n < 2) return [batches.map((b, i) => ({ ...b, json: undefined, rows: rows[i]! }))];
  const parts = batches.map(() => Array.from({ length: n }, (): (readonly unknown[])[] => []));
  const partOf = new Map<unknown, number>();
  for (const r of rows[0]!) {
    const part = hash32(String(r[column] ?? '')) % n;
    partOf.set(r[0], part);
    parts[0]![part]!.push(r);
  }
  for (let i = 1; i < batches.length; i++) for (const r of rows[i]!) parts[i]![partOf.get(r[0]) ?? 0]!.push(r);
  return Array.from({ length: n }, (_, p) => batches.map((b, i) => ({ ...b, json: undefined, rows: parts[i]![p]! }))).filter((part) => part[0]!.rows.length > 0);
}

/**
 * In-memory SQLite: multi-row INSERTs under SQLite's bound-parameter limit, as SQL text (no
 * per-row objects for a query builder). With rollups to keep, returns the first-column values
 * of the rows really inserted (not already there).
 */
async function insertRows(tx: Kysely<any>, b: BulkInsert, rows: readonly (readonly unknown[])[]): Promise<Set<unknown>> {
  const inserted = new Set<unknown>();
  const width = b.columns.length;
  const perQuery = Math.max(1, Math.floor(30_000 / width));
  const head = `insert into ${ident(b.table)} (${b.columns.map(ident).join(', ')}) values `;
  const conflict = b.onConflictDoNothing ? ` on conflict (${b.onConflictDoNothing.map(ident).join(', ')}) do nothing` : '';
  const returning = b.rollups ? ` returning ${ident(b.columns[0]!)}` : '';
  for (let i = 0; i < rows.length; i += perQuery) {
    const chunk = rows.slice(i, i + perQuery);
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (const r of chunk) {
      const marks: string[] = [];
      for (let j = 0; j < width; j++) {
        params.push(typeof r[j] === 'bigint' ? String(r[j]) : r[j]);
        marks.push('?');
      }
      tuples.push(`(${marks.join(', ')})`);
    }
    const result = await tx.executeQuery<Record<string, unknown>>(CompiledQuery.raw(head + tuples.join(', ') + conflict + returning, params));
    if (b.rollups) for (const r of result.rows) inserted.add(r[b.columns[0]!]);
  }
  return inserted;
}

/** In-memory SQLite: adds rollup rows into their table, a few hundred rows a statement. */
async function upsertRollup(tx: Kysely<any>, spec: RollupSpec, rows: unknown[][]): Promise<void> {
  const width = rows[0]?.length ?? 1;
  const perQuery = Math.max(1, Math.floor(30_000 / width));
  for (let i = 0; i < rows.length; i += perQuery) {
    const chunk = rows.slice(i, i + perQuery);
    const params = chunk.flat().map((v) => (typeof v === 'bigint' ? v.toString() : v));
    await tx.executeQuery(CompiledQuery.raw(rollupUpsertSql(spec, 'sqlite', chunk.length), params));
  }
}

function rowsOf(b: BulkInsert): readonly (readonly unknown[])[] {
  if (b.json === undefined) return b.rows;
  return JSON.parse(typeof b.json === 'string' ? b.json : Buffer.from(b.json.buffer, b.json.byteOffset, b.json.byteLength).toString('utf8')) as unknown[][];
}

/** `insert into "t" ("a", "b") values (?, ?) [on conflict ("a") do nothing]` for SQLite. */
function insertSql(b: BulkInsert): string {
  const cols = b.columns.map(ident).join(', ');
  const marks = b.columns.map(() => '?').join(', ');
  const conflict = b.onConflictDoNothing ? ` on conflict (${b.onConflictDoNothing.map(ident).join(', ')}) do nothing` : '';
  return `insert into ${ident(b.table)} (${cols}) values (${marks})${conflict}`;
}

function assertIdentifiers(b: BulkInsert): void {
  for (const name of [b.table, ...b.columns, ...(b.onConflictDoNothing ?? [])]) ident(name);
}

function ident(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}
