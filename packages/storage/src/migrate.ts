import { Migrator, sql, type Kysely, type Migration } from 'kysely';

// Any fixed 64-bit number; every Tollgate replica takes the same advisory lock.
export const PG_MIGRATION_LOCK = 7_315_002_025;

/**
 * Runs one owner's migrations with Kysely's Migrator, each owner in its own bookkeeping table
 * so plugins never collide. On PostgreSQL an advisory lock serialises replicas that start
 * together (Kysely's own lock table cannot be created race-free); on SQLite the file lock
 * and busy timeout do the same.
 */
export async function migrate(db: Kysely<any>, driver: 'sqlite' | 'postgres', owner: string, migrations: Record<string, Migration>): Promise<void> {
  if (!/^[a-z][a-z0-9_]*$/.test(owner)) throw new Error(`invalid migration owner: ${owner}`);
  const run = async (conn: Kysely<any>) => {
    const migrator = new Migrator({
      db: conn,
      provider: { getMigrations: async () => migrations },
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
      await run(conn);
    } finally {
      await sql`select pg_advisory_unlock(${PG_MIGRATION_LOCK})`.execute(conn);
    }
  });
}
