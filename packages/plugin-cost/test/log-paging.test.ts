import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '@tollgate/core';
import authPlugin from '@tollgate/plugin-auth';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { costPlugin } from '../src/plugin.js';
import { COUNT_AHEAD } from '../src/spend-routes.js';
import type { SpendRow } from '../src/spend-row.js';

const MASTER_KEY = 'sk-master-paging-7e2a';
const ROWS = COUNT_AHEAD + 60;
const T0 = Date.parse('2021-05-01T00:00:00Z');

/** Row i of a ledger a little longer than COUNT_AHEAD; every 100th failed; all tagged, every third twice. */
function row(i: number): SpendRow {
  return {
    request_id: `row-${String(i).padStart(6, '0')}`, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'claude-haiku-4-5',
    api_key: 'b'.repeat(64), key_alias: 'pager', user_id: null, team_id: null, end_user: null, request_tags: i % 3 === 0 ? ['all', 'third'] : ['all'],
    status: i % 100 === 0 ? 529 : 200, prompt_tokens: 1, completion_tokens: 1, input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
    service_tier: 'standard', inference_geo: null, speed: null, spend: 1n, unpriced: false, stream: false, aborted: false,
    batch_id: null, start_time: T0 + i, end_time: T0 + i + 1, completion_start_time: null,
    session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null,
  };
}

describe.each(DRIVERS)('/spend/logs paging on a ledger past COUNT_AHEAD rows, on %s', (driver) => {
  let db: TestDatabase;
  let dir: string;
  let gw: Gateway;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    dir = await mkdtemp(join(tmpdir(), 'tg-paging-'));
    const storage = await db.open();
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage);
    for (let i = 0; i < ROWS; i += 1000) await store.insert(ledgerBatch(Array.from({ length: Math.min(1000, ROWS - i) }, (_, j) => row(i + j))));
    await storage.close();
    gw = await createGateway({
      config: {
        server: { host: '127.0.0.1', port: 0 },
        providers: { anthropic: { baseUrl: 'http://127.0.0.1:9', apiKey: 'sk-ant-upstream' } },
        plugins: [
          { use: '@tollgate/storage', config: db.options },
          { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
          { use: '@tollgate/plugin-cost' },
        ],
      },
      modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin },
      env: { TOLLGATE_DATA_DIR: dir },
      logDestination: { write: () => undefined },
    });
    url = (await gw.listen()).url;
  }, 60_000);
  afterAll(async () => {
    await gw?.close({ graceMs: 0 });
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const page = async (query: string) => {
    const res = await fetch(`${url}/spend/logs?${query}`, { headers: { 'x-api-key': MASTER_KEY } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { request_id: string }[]; [field: string]: unknown };
    return { ...body, data: body.data.map((r) => r.request_id) };
  };

  it('counts at most COUNT_AHEAD rows past the page: the total is then a lower bound, and paging goes on', async () => {
    const first = await page('page=1&page_size=50');
    expect(first).toMatchObject({ total: COUNT_AHEAD, total_is_lower_bound: true, page: 1, page_size: 50, total_pages: COUNT_AHEAD / 50 });
    expect(first.data[0]).toBe(`row-${String(ROWS - 1).padStart(6, '0')}`);
    // The last page the lower bound promises, and the one after it: counted from further on.
    const promised = await page(`page=${COUNT_AHEAD / 50}&page_size=50`);
    expect(promised).toMatchObject({ total: ROWS, total_is_lower_bound: false, total_pages: Math.ceil(ROWS / 50) });
    const last = await page(`page=${Math.ceil(ROWS / 50)}&page_size=50`);
    expect(last).toMatchObject({ total: ROWS, total_is_lower_bound: false });
    expect(last.data).toEqual(['row-000009', 'row-000008', 'row-000007', 'row-000006', 'row-000005', 'row-000004', 'row-000003', 'row-000002', 'row-000001', 'row-000000']);
    expect(await page(`page=${Math.ceil(ROWS / 50) + 1}&page_size=50`)).toMatchObject({ data: [], total: ROWS, total_is_lower_bound: false });
  });

  it('is exact below the cap, with filters', async () => {
    expect(await page('status=error&page=1&page_size=50')).toMatchObject({ total: Math.ceil(ROWS / 100), total_is_lower_bound: false, total_pages: 3 });
    expect(await page('end_date=2021-05-01T00:00:00.099Z&page=1&page_size=50')).toMatchObject({ total: 100, total_is_lower_bound: false, total_pages: 2 });
    expect(await page('tag=third&page=1&page_size=50')).toMatchObject({ total: Math.ceil(ROWS / 3), total_is_lower_bound: false });
    expect(await page('tag=third&status=error&page=1&page_size=50')).toMatchObject({ total: Math.ceil(ROWS / 300), total_is_lower_bound: false });
    expect(await page('tag=third&end_date=2021-05-01T00:00:00.099Z&page=1&page_size=50')).toMatchObject({ total: 34, total_is_lower_bound: false });
    expect(await page('tag=all&page=1&page_size=50')).toMatchObject({ total: COUNT_AHEAD, total_is_lower_bound: true });
  });
});
