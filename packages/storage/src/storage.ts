import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Migration } from 'kysely';
import type pgTypes from 'pg';
import type { Logger } from '@tollgate/core';
import { parseDatabaseUrl } from './database-url.js';
import { inPlaceWriter, sqliteBackgroundWriter, SQLITE_PRAGMAS, type BackgroundWriter } from './background-writer.js';
import { migrate, PG_MIGRATION_LOCK } from './migrate.js';
import { STORAGE_TIMEOUT } from './outage.js';
import { createPgPool, quoteIdent, type PgPoolOptions } from './pg-pool.js';
import { Startup } from './startup.js';

export interface StorageOptions {
  /** `postgres://…`, `file:PATH`, `sqlite:PATH`; unset → embedded SQLite in `dataDir`. */
  url?: string;
  /** Folder for the embedded database. Default `./.tollgate`. */
  dataDir?: string;
  /** PostgreSQL schema to use (created if missing); default the server's search_path. */
  schema?: string;
  /** Most pooled PostgreSQL connections. */
  poolSize?: number;
  /** Longest wait for a PostgreSQL connection (default 5000 ms). */
  connectTimeoutMs?: number;
  /**
   * Longest a PostgreSQL statement may run (statement_timeout; default 30000 ms); a query on a
   * connection that went silent fails a second later. Migrations have no limit.
   */
  queryTimeoutMs?: number;
  /** Where connection losses and start-up retries are reported. */
  log?: Logger;
}

/** Readiness, as `/health/readiness` reports it. */
export interface StorageHealth {
  ok: boolean;
  /** Why it is not ok. */
  reason?: string;
}

/** One query layer over SQLite or PostgreSQL. */
export interface Storage {
  readonly driver: 'sqlite' | 'postgres';
  /** A Kysely instance; each plugin types it with its own tables (`storage.db.withTables<T>()`). */
  readonly db: Kysely<any>;
  /** Where it points, without credentials: for logs and messages. */
  readonly description: string;
  /**
   * The gateway's folder for local files (absolute): the embedded database lives here, and
   * other plugins keep their files here too (the cost plugin's spend spool).
   */
  readonly dataDir: string;
  /** Runs `owner`'s migrations in name order, once, under a lock shared by every replica. */
  migrate(owner: string, migrations: Record<string, Migration>): Promise<void>;
  /**
   * Runs a plugin's start-up work in the database (migrations, loading what it keeps in memory)
   * now, or, when the database is unavailable, in the background with retries until it
   * answers: the gateway then starts anyway, serves health, and readiness says what it waits
   * for. Resolves once `task` ran or was put off; rejects for an error that is not an outage
   * (see `isOutage`). Tasks run in the order they were given.
   */
  whenAvailable(name: string, task: () => Promise<void>): Promise<void>;
  /** True once every `whenAvailable` task has run. */
  readonly started: boolean;
  /**
   * Runs batches of compiled write queries (build them with `db` and `.compile()`), each batch
   * in one transaction, off the request path: on a worker thread for an SQLite file, through
   * the pool for PostgreSQL.
   */
  readonly background: BackgroundWriter;
  /**
   * PostgreSQL only (undefined on SQLite): a pool of its own, of `max` connections whose
   * statements the server cancels after `queryTimeoutMs`, for short calls on the request path
   * (the auth plugin's shared limits) that must neither queue behind the main pool's work nor
   * hold its connections while the database stalls. Its connections, once open, stay open
   * (no connection set-up on a request's path after a quiet spell). The caller destroys it.
   */
  readonly openPool?: (o: { max: number; queryTimeoutMs: number }) => Kysely<any>;
  /** True when the database answers a trivial query within 400 ms. */
  ping(): Promise<boolean>;
  /**
   * Whether the database answers a trivial query within 400 ms and start-up is done; if not,
   * why. Never waits longer.
   */
  health(): Promise<StorageHealth>;
  /**
   * Gives back what a big one-off query left in the embedded database's caches (SQLite
   * `PRAGMA shrink_memory`; nothing to do for PostgreSQL, whose work happens in the server).
   */
  shrinkMemory(): Promise<void>;
  /**
   * Closes the connections (and the SQLite writer thread), waiting for stalled ones at most
   * 2 s, and never past `deadline` (epoch ms; the gateway's shutdown deadline).
   */
  close(by?: { deadline?: number }): Promise<void>;
}

/**
 * Opens the embedded SQLite database (WAL mode) or a PostgreSQL pool.
 *
 * @example
 * const storage = await createStorage({ url: process.env.DATABASE_URL, dataDir: './.tollgate' });
 * await storage.migrate('auth', { '001_keys': { up: async (db) => { … } } });
 */
export async function createStorage(options: StorageOptions = {}): Promise<Storage> {
  const dataDir = resolve(options.dataDir ?? './.tollgate');
  const target = parseDatabaseUrl(options.url, dataDir);
  const startup = new Startup({ log: options.log });
  let db: Kysely<any>;
  let description: string;
  let background: BackgroundWriter;
  let runMigrations: (owner: string, migrations: Record<string, Migration>) => Promise<void>;
  let openPool: Storage['openPool'];
  if (target.driver === 'sqlite') {
    if (target.file !== ':memory:') mkdirSync(dirname(target.file), { recursive: true });
    // Drivers load only when used: an SQLite gateway never loads pg, and the other way round.
    const { default: Database } = await import('better-sqlite3');
    const sqlite = new Database(target.file, { timeout: 10_000 });
    for (const pragma of SQLITE_PRAGMAS) sqlite.pragma(pragma);
    sqlite.pragma('foreign_keys = ON');
    db = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) });
    description = `sqlite:${target.file}`;
    background = sqliteBackgroundWriter(target.file, db);
    runMigrations = (owner, migrations) => migrate(db, 'sqlite', owner, migrations);
  } else {
    const url = new URL(target.url);
    description = `postgres://${url.host}${url.pathname}${options.schema ? ` (schema ${options.schema})` : ''}`;
    const { default: pg } = await import('pg');
    const pgOptions: PgPoolOptions = {
      url: target.url,
      schema: options.schema,
      max: options.poolSize ?? 10,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      queryTimeoutMs: options.queryTimeoutMs ?? 30_000,
      log: options.log,
    };
    db = new Kysely({ dialect: new PostgresDialect({ pool: createPgPool(pg, pgOptions) }) });
    background = inPlaceWriter(db);
    // Migrations get a connection of their own, without the statement timeout: a backfill over
    // a large ledger may take longer than any query should.
    runMigrations = async (owner, migrations) => {
      const own = new Kysely({ dialect: new PostgresDialect({ pool: createPgPool(pg, { ...pgOptions, max: 1, queryTimeoutMs: 0 }) }) });
      try {
        await migrate(own, 'postgres', owner, migrations);
      } finally {
        await own.destroy();
      }
    };
    openPool = ({ max, queryTimeoutMs }) => new Kysely({ dialect: new PostgresDialect({ pool: createPgPool(pg, { ...pgOptions, max, queryTimeoutMs, idleTimeoutMs: 0 }) }) });
    const { schema } = options;
    if (schema) await startup.run('storage', () => ensureSchema(pg, pgOptions, schema));
  }
  const health = async (): Promise<StorageHealth> => {
    const s = startup.state();
    if (!s.ready) return { ok: false, reason: s.waiting };
    try {
      await withDeadline(sql`select 1`.execute(db), PING_MS, 'the database did not answer within');
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  };
  return {
    driver: target.driver,
    db,
    description,
    dataDir,
    migrate: runMigrations,
    openPool,
    whenAvailable: (name, task) => startup.run(name, task),
    get started() {
      return startup.state().ready;
    },
    health,
    ping: async () => (await health()).ok,
    background,
    async shrinkMemory() {
      if (target.driver === 'sqlite') await sql`pragma shrink_memory`.execute(db);
    },
    async close({ deadline = Infinity } = {}) {
      const left = () => Math.max(0, Math.min(CLOSE_MS, deadline - Date.now()));
      startup.close();
      await background.close(left());
      // A pool waits for its checked-out connections; a stalled one is not waited for past this.
      await withDeadline(db.destroy(), left(), 'the database connections did not close within').catch((err: unknown) =>
        options.log?.warn({ err }, 'closing the database connections took too long; leaving them'),
      );
    },
  };
}

/** How long a readiness ping may take: inside the 500 ms each readiness check gets. */
const PING_MS = 400;
/** How long closing may wait for the database's connections (and the SQLite writer thread). */
const CLOSE_MS = 2000;

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} ${ms} ms`), { code: STORAGE_TIMEOUT })), ms);
  });
  p.catch(() => undefined); // a late failure after the deadline is not news
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function ensureSchema(pg: typeof pgTypes, o: PgPoolOptions, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: o.url, connectionTimeoutMillis: o.connectTimeoutMs, keepAlive: true, query_timeout: o.queryTimeoutMs || undefined });
  // Reported by the query it breaks; an 'error' event with no listener would end the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    // Replicas starting together race on CREATE SCHEMA IF NOT EXISTS: serialise them.
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock($1)', [PG_MIGRATION_LOCK]);
    await client.query(`create schema if not exists ${quoteIdent(schema)}`);
    await client.query('commit');
  } finally {
    await client.end();
  }
}
