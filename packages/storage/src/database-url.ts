import { join, resolve } from 'node:path';

export type DatabaseTarget = { driver: 'sqlite'; file: string } | { driver: 'postgres'; url: string };

/**
 * Where the data lives: `postgres://…`/`postgresql://…` for PostgreSQL, `file:PATH` or
 * `sqlite:PATH` for SQLite (relative to the working directory), nothing for the embedded default `<dataDir>/tollgate.db`.
 *
 * @example
 * parseDatabaseUrl(undefined, './.tollgate'); // { driver: 'sqlite', file: '/abs/.tollgate/tollgate.db' }
 */
export function parseDatabaseUrl(url: string | undefined, dataDir: string): DatabaseTarget {
  if (!url) return { driver: 'sqlite', file: join(resolve(dataDir), 'tollgate.db') };
  if (/^postgres(ql)?:\/\//i.test(url)) return { driver: 'postgres', url };
  const m = /^(file|sqlite):(?:\/\/)?(.+)$/i.exec(url);
  if (m) return { driver: 'sqlite', file: m[2] === ':memory:' ? ':memory:' : resolve(m[2]) };
  throw new Error(`unsupported DATABASE_URL scheme: ${url.split(':')[0]} (use postgres://, file: or sqlite:)`);
}
