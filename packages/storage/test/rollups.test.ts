import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { BulkInsert, Migration, RollupSpec, Storage } from '../src/index.js';
import { createTestDatabase, DRIVERS, type TestDatabase } from '../src/testing.js';

const DAY = 86_400_000;

const migrations: Record<string, Migration> = {
  '001_events': {
    async up(db) {
      await db.schema
        .createTable('events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('who', 'text')
        .addColumn('tags', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('amount', 'bigint', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('event_tags').addColumn('id', 'text').addColumn('tag', 'text').addPrimaryKeyConstraint('event_tags_pk', ['id', 'tag']).execute();
      await db.schema
        .createTable('daily')
        .addColumn('day', 'integer', (c) => c.notNull())
        .addColumn('who', 'text', (c) => c.notNull())
        .addColumn('n', 'bigint', (c) => c.notNull())
        .addColumn('errors', 'bigint', (c) => c.notNull())
        .addColumn('amount', 'bigint', (c) => c.notNull())
        .addColumn('first', 'bigint', (c) => c.notNull())
        .addColumn('last', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('daily_pk', ['day', 'who'])
        .execute();
      await db.schema
        .createTable('daily_tags')
        .addColumn('day', 'integer', (c) => c.notNull())
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('n', 'bigint', (c) => c.notNull())
        .addColumn('amount', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('daily_tags_pk', ['day', 'tag'])
        .execute();
    },
  },
};

const COLUMNS = ['id', 'who', 'tags', 'status', 'amount', 'at'];
const DAILY: RollupSpec = {
  table: 'daily',
  group: [{ column: 'day', from: 'at', day: true }, { column: 'who', from: 'who' }],
  add: [{ column: 'n' }, { column: 'errors', from: 'status', atLeast: 400 }, { column: 'amount', from: 'amount' }],
  min: [{ column: 'first', from: 'at' }],
  max: [{ column: 'last', from: 'at' }],
};
const TAGS: RollupSpec = { table: 'daily_tags', group: [{ column: 'day', from: 'at', day: true }], each: { column: 'tag', from: 'tags' }, add: [{ column: 'n' }, { column: 'amount', from: 'amount' }] };

// 2^63 pico-dollars overflow a JS number long before: sums past 2^53 must stay exact.
const BIG = '9007199254740993';

function events(rows: unknown[][], extra: Partial<BulkInsert> = {}): BulkInsert[] {
  const tagRows = rows.flatMap((r) => (JSON.parse(r[2] as string) as string[]).map((t) => [r[0], t]));
  return [
    { table: 'events', columns: COLUMNS, json: JSON.stringify(rows), onConflictDoNothing: ['id'], rollups: [DAILY, TAGS], ...extra } as BulkInsert,
    { table: 'event_tags', columns: ['id', 'tag'], rows: tagRows, onConflictDoNothing: ['id', 'tag'], parent: 0 },
  ];
}

describe.each(DRIVERS)('rollups kept by the writer on %s', (driver) => {
  let tdb: TestDatabase;
  let s: Storage;

  afterEach(async () => {
    await s?.close();
    await tdb?.drop();
  });

  async function open() {
    tdb = await createTestDatabase(driver);
    s = await tdb.open();
    await s.migrate('events', migrations);
  }
  const daily = async () =>
    (await sql<Record<string, unknown>>`select day, who, cast(n as text) as n, cast(errors as text) as errors, cast(amount as text) as amount, cast(first as text) as first, cast(last as text) as last from daily order by day, who`.execute(s.db)).rows;
  const tags = async () => (await sql<Record<string, unknown>>`select day, tag, cast(n as text) as n, cast(amount as text) as amount from daily_tags order by day, tag`.execute(s.db)).rows;

  it('adds up the rows it stores, exactly, and never counts a replayed row twice', async () => {
    await open();
    const rows = [
      ['r1', 'ann', '["a","b"]', 200, BIG, 3 * DAY + 5],
      ['r2', 'ann', '["a","a"]', 500, '7', 3 * DAY + 9],
      ['r3', null, '[]', 200, 1, 4 * DAY],
    ];
    await s.background.insert(events(rows));
    // The same rows again (a spool replay) and one new one.
    await s.background.insert(events([...rows, ['r4', 'ann', '["b"]', 429, BIG, 3 * DAY + 1]]));
    expect(await daily()).toEqual([
      { day: 3, who: 'ann', n: '3', errors: '2', amount: '18014398509481993', first: String(3 * DAY + 1), last: String(3 * DAY + 9) },
      { day: 4, who: '', n: '1', errors: '0', amount: '1', first: String(4 * DAY), last: String(4 * DAY) },
    ]);
    expect(await tags()).toEqual([
      { day: 3, tag: 'a', n: '2', amount: '9007199254741000' },
      { day: 3, tag: 'b', n: '2', amount: '18014398509481986' },
    ]);
    const stored = await sql<{ n: number | string }>`select count(*) as n from event_tags`.execute(s.db);
    expect(Number(stored.rows[0]!.n)).toBe(4);
  });

  it('with keepWhen, stores only the matching rows (and their children) but adds up every row', async () => {
    await open();
    const rows = [
      ['ok', 'bo', '["x"]', 200, 10, DAY],
      ['bad', 'bo', '["x","y"]', 503, 0, DAY + 1],
    ];
    await s.background.insert(events(rows, { keepWhen: [{ column: 'status', atLeast: 400 }] }));
    expect((await sql<{ id: string }>`select id from events`.execute(s.db)).rows).toEqual([{ id: 'bad' }]);
    expect((await sql<{ id: string; tag: string }>`select id, tag from event_tags order by tag`.execute(s.db)).rows).toEqual([
      { id: 'bad', tag: 'x' },
      { id: 'bad', tag: 'y' },
    ]);
    expect(await daily()).toEqual([{ day: 1, who: 'bo', n: '2', errors: '1', amount: '10', first: String(DAY), last: String(DAY + 1) }]);

    await s.background.insert(events([['none', 'cy', '[]', 200, 4, DAY]], { keepWhen: 'none' }));
    expect(Number((await sql<{ n: number | string }>`select count(*) as n from events`.execute(s.db)).rows[0]!.n)).toBe(1);
    expect((await daily()).find((r) => r.who === 'cy')).toEqual({ day: 1, who: 'cy', n: '1', errors: '0', amount: '4', first: String(DAY), last: String(DAY) });
  });

  it('stores any text as it is: quotes, backslashes, commas, braces, the word NULL, empty and missing values', async () => {
    await open();
    const awkward = ['a"b', 'c\\d', 'e,f', '{g}', 'NULL', '', ' h ', 'i\n"j"\\'];
    const rows = awkward.map((who, i) => [`r${i}`, who, JSON.stringify([who]), 200, i, DAY + i]);
    await s.background.insert(events([...rows, ['none', null, '[]', 200, 1, DAY]]));
    const stored = await sql<{ id: string; who: string | null; tags: string }>`select id, who, tags from events order by id`.execute(s.db);
    expect(stored.rows).toEqual([{ id: 'none', who: null, tags: '[]' }, ...rows.map((r) => ({ id: r[0], who: r[1], tags: r[2] }))].sort((a, b) => (a.id < b.id ? -1 : 1)));
    expect((await daily()).map((r) => r.who).sort()).toEqual([...awkward].sort());
    expect((await tags()).map((r) => r.tag).sort()).toEqual([...awkward].sort());
  });

  it('rolls back the rollups with the rows when the write fails', async () => {
    await open();
    // r1 twice in one statement without a conflict clause fails the whole transaction.
    const bad = events([['r1', 'ann', '[]', 200, 1, DAY]]);
    const failing: BulkInsert[] = [bad[0]!, { table: 'events', columns: COLUMNS, rows: [['r9', 'x', '[]', 200, 1, DAY], ['r9', 'x', '[]', 200, 1, DAY]] }];
    await expect(s.background.insert(failing)).rejects.toThrow();
    expect(await daily()).toEqual([]);
  });
});
