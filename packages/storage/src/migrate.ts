import { Migrator, PostgresAdapter, sql, type DatabaseIntrospector, type Kysely, type Migration } from 'kysely';

// Any fixed 64-bit number; every Tollgate replica takes the same advisory lock.
export const PG_MIGRATION_LOCK = 7_315_002_025;

/**
 * Runs one owner's migrations with Kysely's Migrator, each owner in its own bookkeeping table
 * so plugins never collide. On PostgreSQL an advisory lock serialises replicas that start
 * together (Kysely's own lock table cannot be created race-free); on SQLite the file lock
 * and busy timeout do the same.
 *
 * On PostgreSQL the bookkeeping tables are named with the connection's current schema. Kysely
 * otherwise looks for them in every schema, so another schema's tables (a second deployment in
 * the same database, with its own `schema`) made it skip creating this one's and then fail on
 * them ("relation tollgate_migrations_auth_lock does not exist").
 */
export async function migrate(db: Kysely<any>, driver: 'sqlite' | 'postgres', owner: string, migrations: Record<string, Migration>): Promise<void> {
  if (!/^[a-z][a-z0-9_]*$/.test(owner)) throw new Error(`invalid migration owner: ${owner}`);
  const run = async (conn: Kysely<any>, schema?: string) => {
    const migrator = new Migrator({
      db: schema === undefined ? conn : scopedToSchema(conn, schema),
      provider: { getMigrations: async () => migrations },
      migrationTableSchema: schema,
      migrationTableName: `tollgate_migrations_${owner}`,
      migrationLockTableName: `tollgate_migrations_${owner}_lock`,
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(`migration ${failed ?? ''} of ${owner} failed: ${(error as Error).message}`, { cause: error });
    }
  };
  if (driver === 'sqlite') return run(db);
  await db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${PG_MIGRATION_LOCK})`.execute(conn);
    try {
      const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(conn);
      const schema = rows[0]?.schema;
      if (!schema) throw new Error(`migration of ${owner} failed: the connection has no current schema (no schema on its search_path exists)`);
      await run(conn, schema);
    } finally {
      await sql`select pg_advisory_unlock(${PG_MIGRATION_LOCK})`.execute(conn);
    }
  });
}

/**
 * The connection as Kysely's Migrator sees it, with its one catalog question (which tables
 * exist?) asked of this schema alone. Kysely's PostgreSQL introspection lists the tables of
 * every schema and resolves each by name (`has_schema_privilege`, `pg_get_serial_sequence`),
 * so a schema another deployment (or another test) drops meanwhile failed this start-up with
 * "schema … does not exist", or made it wait on that drop's lock.
 */
function scopedToSchema(conn: Kysely<any>, schema: string): Kysely<any> {
  const introspection: DatabaseIntrospector = {
    getSchemas: () => conn.introspection.getSchemas(),
    getMetadata: async () => ({ tables: await introspection.getTables() }),
    async getTables() {
      const { rows } = await sql<{ name: string }>`select c.relname as name from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname = ${schema} and c.relkind in ('r', 'p', 'v')`.execute(conn);
      return rows.map((r) => ({ name: r.name, schema, isView: false, columns: [] }));
    },
  };
  return new Proxy(conn, {
    get(target, prop) {
      if (prop === 'introspection') return introspection;
      const value: unknown = Reflect.get(target, prop, target);
      // Kysely's methods use private fields: call them on the instance itself.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Whether a Kysely instance (a migration's `db`, say) talks to PostgreSQL. */
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
