import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createStorage, type Storage, type StorageOptions } from './storage.js';

/** The PostgreSQL every machine (CI included) runs; override with TEST_DATABASE_URL. */
export const TEST_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const DRIVERS = ['sqlite', 'postgres'] as const;

export interface TestDatabase {
  /** Options that open this database (give them to `createStorage` or the storage plugin). */
  options: StorageOptions & { url: string };
  open(): Promise<Storage>;
  /** Removes the temporary file or schema. */
  drop(): Promise<void>;
}

/**
 * A fresh database for one test run: a temporary SQLite file, or a new schema in the test
 * PostgreSQL, so runs never collide.
 *
 * @example
 * const tdb = await createTestDatabase('postgres');
 * const storage = await tdb.open();
 */
export async function createTestDatabase(driver: 'sqlite' | 'postgres'): Promise<TestDatabase> {
  if (driver === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-db-'));
    const options = { url: `file:${join(dir, 'test.db')}`, dataDir: dir };
    return { options, open: () => createStorage(options), drop: () => rm(dir, { recursive: true, force: true }) };
  }
  const schema = `tg_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const options = { url: TEST_POSTGRES_URL, schema };
  return {
    options,
    open: () => openStarted(options),
    async drop() {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      try {
        // A test that stopped its gateways with no grace can leave a ledger write running (the
        // writer abandoned it at the deadline; PostgreSQL still runs it). That statement and the
        // drop lock the same tables in different orders: when PostgreSQL picks the drop as the
        // deadlock's victim, the write has the locks and ends, and the drop goes through next.
        for (let attempt = 1; ; attempt++) {
          try {
            await client.query(`drop schema if exists "${schema}" cascade`);
            break;
          } catch (err) {
            if ((err as { code?: string }).code !== '40P01' || attempt === 5) throw err;
          }
        }
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Opens the storage once its start-up (the schema) is done. A busy test database (too many
 * connections, a lock held long) puts start-up off instead of failing it; a test that then
 * migrated at once would meet a schema not made yet.
 */
async function openStarted(options: StorageOptions): Promise<Storage> {
  const storage = await createStorage(options);
  const deadline = Date.now() + 20_000;
  while (!storage.started) {
    if (Date.now() > deadline) {
      const { reason } = await storage.health();
      await storage.close();
      throw new Error(`the test database did not start within 20 s: ${reason}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return storage;
}
