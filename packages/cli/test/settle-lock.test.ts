import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '@tollgate/core';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, type MockUpstream } from '@tollgate/testing';
import { BUNDLED_MODULES } from '../src/cli-config.js';
import { runCliCaptured } from './cli-run.js';

const MASTER_KEY = 'sk-master-settle-lock';
let tdb: TestDatabase;
let storage: Storage;
let mock: MockUpstream;
let gw: Gateway;

beforeAll(async () => {
  tdb = await createTestDatabase('postgres');
  storage = await tdb.open();
  mock = await createMockUpstream();
  gw = await createGateway({
    config: {
      server: { host: '127.0.0.1', port: 0 },
      providers: { anthropic: { baseUrl: mock.url, apiKey: 'up' } },
      plugins: [
        { use: '@tollgate/storage', config: tdb.options },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
        { use: '@tollgate/plugin-cost', config: { batches: { settleEveryMs: 0 } } },
      ],
    },
    modules: { ...BUNDLED_MODULES },
    logDestination: { write: () => undefined },
  });
  await gw.listen();
});

afterAll(async () => {
  await gw?.close({ graceMs: 0 });
  await mock?.close();
  await storage?.close();
  await tdb?.drop();
});

async function settleBatches(): Promise<{ code: number; out: string[] }> {
  const { code, out, err } = await runCliCaptured(['spend', 'settle-batches'], { TOLLGATE_URL: gw.url, TOLLGATE_MASTER_KEY: MASTER_KEY });
  return { code, out: [...out, ...err] };
}

describe('tollgate spend settle-batches on replicas sharing PostgreSQL', () => {
  it('says so when another replica holds the settlement lock, and settles once it is free', async () => {
    await storage.db.connection().execute(async (conn) => {
      // What a replica running the job holds (LedgerStore.exclusively).
      const lock = sql`hashtext(current_schema() || ':tollgate.batch_settlement')`;
      await sql`select pg_advisory_lock(${lock})`.execute(conn);
      try {
        expect(await settleBatches()).toEqual({ code: 0, out: ['another gateway on this database is settling batches now: nothing done here'] });
      } finally {
        await sql`select pg_advisory_unlock(${lock})`.execute(conn);
      }
    });
    expect(await settleBatches()).toEqual({ code: 0, out: ['asked about 0 unsettled batch(es): 0 settled, 0 result(s) booked, 0 failed (tried again on the next run)'] });
  });
});
