import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createLogger } from '@tollgate/core';
import { createTcpRelay, until, type TcpRelay } from '@tollgate/testing';
import { createStorage, isOutage, type Storage } from '../src/index.js';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from '../src/testing.js';

const logs: string[] = [];
const log = createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } });

/** PostgreSQL through a relay the test controls, in a fresh schema. */
describe('PostgreSQL behind a faulty network', () => {
  let relay: TcpRelay;
  let tdb: TestDatabase;
  const open: Storage[] = [];
  afterEach(async () => {
    relay?.setMode('pass');
    for (const s of open.splice(0)) await s.close();
    await relay?.close();
    await tdb?.drop();
    logs.length = 0;
  });

  async function viaRelay(extra: Record<string, unknown> = {}): Promise<Storage> {
    relay = await createTcpRelay({ port: Number(new URL(TEST_POSTGRES_URL).port || 5432) });
    tdb = await createTestDatabase('postgres');
    const url = new URL(TEST_POSTGRES_URL);
    url.host = `${relay.host}:${relay.port}`;
    const s = await createStorage({ url: url.toString(), schema: tdb.options.schema, connectTimeoutMs: 1000, queryTimeoutMs: 1000, log, ...extra });
    open.push(s);
    return s;
  }

  it('survives its pooled connections being reset, idle or between two queries of a transaction, and carries on', async () => {
    const s = await viaRelay();
    await sql`create table t (x int)`.execute(s.db);
    // An idle pooled connection, and one held by a transaction between its statements.
    const held = s.db.transaction().execute(async (tx) => {
      await sql`insert into t values (1)`.execute(tx);
      relay.reset();
      await new Promise((r) => setTimeout(r, 100)); // the reset arrives while no query runs on it
      await sql`insert into t values (2)`.execute(tx);
    });
    await expect(held).rejects.toThrow();
    await until(() => logs.some((l) => l.includes('a PostgreSQL connection was lost')));
    expect((await sql<{ n: number }>`select count(*) as n from t`.execute(s.db)).rows).toEqual([{ n: 0 }]);
    await sql`insert into t values (3)`.execute(s.db);
    relay.reset();
    await new Promise((r) => setTimeout(r, 100));
    expect((await sql<{ x: number }>`select x from t`.execute(s.db)).rows).toEqual([{ x: 3 }]);
  });

  it('fails a query on a blackholed connection within queryTimeoutMs and a second, and health answers at once with the reason', async () => {
    const s = await viaRelay();
    await sql`select 1`.execute(s.db);
    relay.setMode('blackhole');
    const started = Date.now();
    const health = await s.health();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(health).toEqual({ ok: false, reason: 'the database did not answer within 400 ms' });
    const err = await sql`select 1`.execute(s.db).catch((e: unknown) => e);
    expect(isOutage(err)).toBe(true);
    expect((err as Error).message).toMatch(/^(PostgreSQL did not answer a query within 2000 ms|timeout exceeded when trying to connect|Connection terminated due to connection timeout)$/);
    relay.setMode('pass');
    await until(async () => (await s.health()).ok, 10_000);
  });

  it('opens while the database refuses connections: start-up work waits and runs, in order, once it answers', async () => {
    relay = await createTcpRelay({ port: Number(new URL(TEST_POSTGRES_URL).port || 5432) });
    relay.setMode('refuse');
    const s = await viaRelayWith(relay);
    expect(s.started).toBe(false);
    const ran: string[] = [];
    await s.whenAvailable('first', async () => void ran.push('first'));
    await s.whenAvailable('second', async () => {
      await sql`select 1`.execute(s.db);
      ran.push('second');
    });
    expect(ran).toEqual([]);
    expect(await s.health()).toMatchObject({ ok: false, reason: expect.stringMatching(/^start-up \(storage\) waits for the database: /) });
    relay.setMode('pass');
    await until(() => s.started, 10_000);
    expect(ran).toEqual(['first', 'second']);
    expect(await s.health()).toEqual({ ok: true });
  });

  it('fails at once, not in the background, for an error that is not an outage', async () => {
    const s = await viaRelay();
    await expect(s.whenAvailable('bad', () => sql`select * from no_such_table`.execute(s.db).then(() => undefined))).rejects.toThrow('no_such_table');
    expect(s.started).toBe(true);
  });

  async function viaRelayWith(r: TcpRelay): Promise<Storage> {
    tdb = await createTestDatabase('postgres');
    const url = new URL(TEST_POSTGRES_URL);
    url.host = `${r.host}:${r.port}`;
    const s = await createStorage({ url: url.toString(), schema: tdb.options.schema, connectTimeoutMs: 1000, queryTimeoutMs: 1000, log });
    open.push(s);
    return s;
  }
});
