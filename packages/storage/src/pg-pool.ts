import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pgTypes from 'pg';
import type { Logger } from '@tollgate/core';
import { STORAGE_TIMEOUT } from './outage.js';

export interface PgPoolOptions {
  url: string;
  /** Schema put first on the search_path of every connection. */
  schema?: string;
  /** Most connections. */
  max: number;
  /** Longest wait for a connection (a new one, or a free one from a full pool). */
  connectTimeoutMs: number;
  /**
   * Longest a statement may run: the server cancels it then (statement_timeout, and
   * idle_in_transaction_session_timeout for a transaction its client left open), and a query
   * whose answer does not arrive a second later (a stalled network) is failed here and its
   * connection thrown away. 0: no limit (migrations).
   */
  queryTimeoutMs: number;
  /** How long a connection may sit idle before it is closed (default 10000 ms); 0: never. */
  idleTimeoutMs?: number;
  log?: Logger;
}

/** TCP keepalive probes on idle connections, so a peer that vanished is noticed by the OS too. */
const KEEPALIVE_DELAY_MS = 10_000;

/**
 * A node-postgres pool for Kysely that a database failure cannot crash or hang:
 *
 * - a connection that breaks while idle in the pool, or while checked out between two queries
 *   (inside a transaction, or held for an advisory lock), emits 'error'; node-postgres throws
 *   an 'error' event nobody listens to, which killed the process on any PostgreSQL restart. Both
 *   are listened to here: the pool drops the connection and the next query opens a new one;
 * - every query has a deadline: a connection whose query did not answer in time is destroyed
 *   when Kysely gives it back, instead of going back to the pool with the stalled query still
 *   on it (node-postgres' own query_timeout leaves it there, so every later query on it waits).
 *
 * @example
 * const pool = createPgPool(pg, { url, max: 10, connectTimeoutMs: 5000, queryTimeoutMs: 30000 });
 * const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
 */
export function createPgPool(pg: typeof pgTypes, o: PgPoolOptions): PostgresPool & { end(): Promise<void> } {
  const settings = [o.schema ? `-c search_path=${quoteIdent(o.schema)}` : '', ...(o.queryTimeoutMs > 0 ? [`-c statement_timeout=${o.queryTimeoutMs}`, `-c idle_in_transaction_session_timeout=${o.queryTimeoutMs}`] : [])];
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.max,
    connectionTimeoutMillis: o.connectTimeoutMs,
    idleTimeoutMillis: o.idleTimeoutMs ?? 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    options: settings.filter(Boolean).join(' ') || undefined,
    // int8 (epoch-ms timestamps, counters) as JS numbers; exact money uses NUMERIC/text.
    types: { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')) } as pgTypes.CustomTypesConfig,
  });
  let failing = false;
  const lost = (err: Error) => {
    // Once per outage: a restart breaks every pooled connection at once.
    if (!failing) o.log?.warn({ err }, 'a PostgreSQL connection was lost; the next query opens a new one');
    failing = true;
  };
  pool.on('error', lost);
  pool.on('connect', (client) => {
    failing = false;
    // Checked-out clients have no pool listener: an error between two queries must not throw.
    client.on('error', lost);
  });
  // A stalled query is given a second past the server's own cancel before it is abandoned.
  const deadlineMs = o.queryTimeoutMs > 0 ? o.queryTimeoutMs + 1000 : 0;
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      return guardedClient(client, deadlineMs);
    },
    end: () => pool.end(),
  };
}

function guardedClient(client: pgTypes.PoolClient, deadlineMs: number): PostgresPoolClient {
  let broken = false;
  return {
    query: (async (text: string, values: readonly unknown[]) => {
      if (broken) throw Object.assign(new Error('the PostgreSQL connection stalled and was abandoned'), { code: STORAGE_TIMEOUT });
      if (deadlineMs === 0) return client.query(text, values as unknown[]);
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          broken = true;
          reject(Object.assign(new Error(`PostgreSQL did not answer a query within ${deadlineMs} ms`), { code: STORAGE_TIMEOUT }));
        }, deadlineMs);
      });
      const answer = client.query(text, values as unknown[]);
      // The abandoned query's late failure (its connection destroyed) is expected.
      answer.catch(() => undefined);
      try {
        return await Promise.race([answer, stalled]);
      } finally {
        clearTimeout(timer);
      }
    }) as unknown as PostgresPoolClient['query'],
    // A stalled connection is destroyed (node-postgres ends a client with a query still on it
    // by destroying its socket), never handed to the next query.
    release: (destroy?: boolean) => client.release(destroy || broken),
  };
}

export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid schema name: ${name}`);
  return `"${name}"`;
}
