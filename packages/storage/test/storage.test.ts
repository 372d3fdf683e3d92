import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createStorage, parseDatabaseUrl, type Migration, type Storage } from '../src/index.js';
import { createTestDatabase, DRIVERS, type TestDatabase } from '../src/testing.js';

const migrations: Record<string, Migration> = {
  '001_widgets': {
    async up(db) {
      await db.schema
        .createTable('widgets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('count', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '002_widgets_owner': {
    async up(db) {
      await db.schema.alterTable('widgets').addColumn('owner', 'text').execute();
    },
  },
};

describe.each(DRIVERS)('storage on %s', (driver) => {
  let tdb: TestDatabase;
  const open: Storage[] = [];
  const openStorage = async () => {
    const s = await tdb.open();
    open.push(s);
    return s;
  };

  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await tdb?.drop();
  });

  it('migrates once, idempotently, and round-trips rows with numbers as numbers', async () => {
    tdb = await createTestDatabase(driver);
    const s = await openStorage();
    expect(s.driver).toBe(driver);
    await s.migrate('widgets', migrations);
    await s.migrate('widgets', migrations);
    const now = Date.now();
    await s.db.insertInto('widgets').values({ id: 'w1', count: 2 ** 40, created_at: now, owner: 'ann' }).execute();
    const row = await s.db.selectFrom('widgets').selectAll().where('id', '=', 'w1').executeTakeFirstOrThrow();
    expect(row).toEqual({ id: 'w1', count: 2 ** 40, created_at: now, owner: 'ann' });
    const applied = await s.db.selectFrom('tollgate_migrations_widgets').select('name').orderBy('name').execute();
    expect(applied.map((r) => r.name)).toEqual(['001_widgets', '002_widgets_owner']);
    expect(await s.ping()).toBe(true);
  });

  it('two replicas migrating at the same moment do not race', async () => {
    tdb = await createTestDatabase(driver);
    const [a, b] = await Promise.all([openStorage(), openStorage()]);
    await Promise.all([a.migrate('widgets', migrations), b.migrate('widgets', migrations), a.migrate('other', { '001': { up: async (db) => void (await db.schema.createTable('other_t').addColumn('x', 'text').execute()) } })]);
    const applied = await b.db.selectFrom('tollgate_migrations_widgets').select('name').execute();
    expect(applied).toHaveLength(2);
  });

  it.runIf(driver === 'postgres')('migrates a schema of its own while another schema in the same database holds the same tables', async () => {
    // Two deployments in one PostgreSQL, each with its own `schema`: the second must not take
    // the first one's bookkeeping tables for its own. (Skipped on SQLite: it has no schemas.)
    tdb = await createTestDatabase(driver);
    const other = await createTestDatabase(driver);
    try {
      const first = await other.open();
      open.push(first);
      await first.migrate('widgets', migrations);
      const s = await openStorage();
      await s.migrate('widgets', migrations);
      await s.db.insertInto('widgets').values({ id: 'w1', count: 1, created_at: 1, owner: null }).execute();
      expect(await first.db.selectFrom('widgets').selectAll().execute()).toEqual([]);
      expect((await s.db.selectFrom('tollgate_migrations_widgets').select('name').execute()).map((r) => r.name)).toEqual(['001_widgets', '002_widgets_owner']);
    } finally {
      await Promise.all(open.splice(0).map((x) => x.close()));
      await other.drop();
    }
  });

  it('data survives closing and reopening', async () => {
    tdb = await createTestDatabase(driver);
    const first = await tdb.open();
    await first.migrate('widgets', migrations);
    await first.db.insertInto('widgets').values({ id: 'kept', created_at: 1 }).execute();
    await first.close();
    const second = await openStorage();
    const row = await second.db.selectFrom('widgets').select('id').executeTakeFirst();
    expect(row).toEqual({ id: 'kept' });
  });

  it('background inserts run in one transaction, skip rows that collide and keep big integers exact', async () => {
    tdb = await createTestDatabase(driver);
    const s = await openStorage();
    await s.migrate('widgets', migrations);
    const columns = ['id', 'count', 'created_at', 'owner'];
    const big = (2n ** 62n + 7n).toString();
    await s.background.insert([{ table: 'widgets', columns, rows: [['a', big, 1, null], ['b', 2, 2, 'bo']], onConflictDoNothing: ['id'] }]);
    // 'a' again is skipped; 'c' lands; all in one transaction with the second batch. Rows may
    // come as JSON text, big integers as decimal strings.
    await s.background.insert([
      { table: 'widgets', columns, json: JSON.stringify([['a', 0, 9, 'changed'], ['c', 3, 3, null], ['j', big, 6, 'js']]), onConflictDoNothing: ['id'] },
      { table: 'widgets', columns: ['id', 'created_at'], rows: [['d', 4]] },
    ]);
    // A batch that fails writes none of its rows.
    await expect(s.background.insert([{ table: 'widgets', columns, rows: [['e', 5, 5, null], ['b', 0, 0, null]] }])).rejects.toThrow();
    await expect(s.background.insert([{ table: 'widgets; drop table widgets', columns, rows: [] }])).rejects.toThrow('not a plain SQL identifier');
    const rows = await s.db.selectFrom('widgets').select(['id', sql<string>`cast(count as text)`.as('count'), 'owner']).orderBy('id').execute();
    expect(rows).toEqual([
      { id: 'a', count: big, owner: null },
      { id: 'b', count: '2', owner: 'bo' },
      { id: 'c', count: '3', owner: null },
      { id: 'd', count: '0', owner: null },
      { id: 'j', count: big, owner: 'js' },
    ]);
  });

  it('shrinkMemory can run at any time and the database keeps working', async () => {
    tdb = await createTestDatabase(driver);
    const s = await openStorage();
    await s.migrate('widgets', migrations);
    await s.db.insertInto('widgets').values({ id: 'w', created_at: 1 }).execute();
    await s.shrinkMemory();
    expect(await s.db.selectFrom('widgets').select('id').execute()).toEqual([{ id: 'w' }]);
  });

  it('reports a failing migration by name', async () => {
    tdb = await createTestDatabase(driver);
    const s = await openStorage();
    await expect(s.migrate('broken', { '001_bad': { up: async (db) => void (await sql`select * from no_such_table`.execute(db)) } })).rejects.toThrow('migration 001_bad of broken failed');
  });
});

describe('SQLite connections', () => {
  it('use SQLite\'s 2 MB page cache, not the 16 MB better-sqlite3 builds in', async () => {
    const tdb = await createTestDatabase('sqlite');
    const s = await tdb.open();
    try {
      expect((await sql<{ cache_size: number }>`pragma cache_size`.execute(s.db)).rows).toEqual([{ cache_size: -2000 }]);
      // The writer thread's connection takes the same SQLITE_PRAGMAS (through workerData): a
      // write through it shows it still starts.
      await s.migrate('widgets', migrations);
      await s.background.insert([{ table: 'widgets', columns: ['id', 'created_at'], rows: [['w', 1]] }]);
      expect(await s.db.selectFrom('widgets').select('id').execute()).toEqual([{ id: 'w' }]);
    } finally {
      await s.close();
      await tdb.drop();
    }
  });
});

describe('database URLs', () => {
  it('picks the driver from the URL', () => {
    expect(parseDatabaseUrl(undefined, '/data')).toEqual({ driver: 'sqlite', file: '/data/tollgate.db' });
    expect(parseDatabaseUrl('file:/tmp/x.db', '/data')).toEqual({ driver: 'sqlite', file: '/tmp/x.db' });
    expect(parseDatabaseUrl('sqlite:///tmp/y.db', '/data')).toEqual({ driver: 'sqlite', file: '/tmp/y.db' });
    expect(parseDatabaseUrl('postgresql://u@h:5432/db', '/data')).toEqual({ driver: 'postgres', url: 'postgresql://u@h:5432/db' });
    expect(() => parseDatabaseUrl('mysql://h/db', '/data')).toThrow('unsupported DATABASE_URL scheme: mysql');
  });

  it('reports an unreachable PostgreSQL through ping, not a crash', async () => {
    const s = await createStorage({ url: 'postgres://127.0.0.1:1/none' });
    expect(await s.ping()).toBe(false);
    expect(s.description).toBe('postgres://127.0.0.1:1/none');
    await s.close();
  });
});
