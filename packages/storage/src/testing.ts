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
    open: () => createStorage(options),
    async drop() {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    },
  };
}
