import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Migration } from 'kysely';
import type pgTypes from 'pg';
import { parseDatabaseUrl } from './database-url.js';
import { inPlaceWriter, sqliteBackgroundWriter, SQLITE_PRAGMAS, type BackgroundWriter } from './background-writer.js';
import { migrate, PG_MIGRATION_LOCK } from './migrate.js';

export interface StorageOptions {
  /** `postgres://…`, `file:PATH`, `sqlite:PATH`; unset → embedded SQLite in `dataDir`. */
  url?: string;
  /** Folder for the embedded database. Default `./.tollgate`. */
  dataDir?: string;
  /** PostgreSQL schema to use (created if missing); default the server's search_path. */
  schema?: string;
  /** Most pooled PostgreSQL connections. */
  poolSize?: number;
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
   * Runs batches of compiled write queries (build them with `db` and `.compile()`), each batch
   * in one transaction, off the request path: on a worker thread for an SQLite file, through
   * the pool for PostgreSQL.
   */
  readonly background: BackgroundWriter;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  /**
   * Gives back what a big one-off query left in the embedded database's caches (SQLite
   * `PRAGMA shrink_memory`; nothing to do for PostgreSQL, whose work happens in the server).
   */
  shrinkMemory(): Promise<void>;
  close(): Promise<void>;
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
  let db: Kysely<any>;
  let description: string;
  let background: BackgroundWriter;
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
  } else {
    const url = new URL(target.url);
    description = `postgres://${url.host}${url.pathname}${options.schema ? ` (schema ${options.schema})` : ''}`;
    const { default: pg } = await import('pg');
    if (options.schema) await ensureSchema(pg, target.url, options.schema);
    const pool = new pg.Pool({
      connectionString: target.url,
      max: options.poolSize ?? 10,
      options: options.schema ? `-c search_path=${quoteIdent(options.schema)}` : undefined,
      // int8 (epoch-ms timestamps, counters) as JS numbers; exact money uses NUMERIC/text.
      types: { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')) } as pgTypes.CustomTypesConfig,
    });
    db = new Kysely({ dialect: new PostgresDialect({ pool }) });
    background = inPlaceWriter(db);
  }
  return {
    driver: target.driver,
    db,
    description,
    dataDir,
    migrate: (owner, migrations) => migrate(db, target.driver, owner, migrations),
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    background,
    async shrinkMemory() {
      if (target.driver === 'sqlite') await sql`pragma shrink_memory`.execute(db);
    },
    async close() {
      await background.close();
      await db.destroy();
    },
  };
}

async function ensureSchema(pg: typeof pgTypes, url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
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

function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid schema name: ${name}`);
  return `"${name}"`;
}
