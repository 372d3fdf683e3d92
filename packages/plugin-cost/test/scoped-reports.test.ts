import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '@tollgate/core';
import authPlugin from '@tollgate/plugin-auth';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, errorReply, messageJson, rawRequest, until, type MockUpstream } from '@tollgate/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { costPlugin } from '../src/plugin.js';
import type { SpendRow } from '../src/spend-row.js';

const MASTER_KEY = 'sk-master-scoped-7a2e';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const OLD_KEY = 'b'.repeat(64);

/** A row from 2021-05-01 and one from 2021-05-03, so /spend/daily has two days with a gap. */
function old(id: string, at: string, status: number, spend: bigint): SpendRow {
  return {
    request_id: id, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'claude-haiku-4-5',
    api_key: OLD_KEY, key_alias: 'old', user_id: null, team_id: null, end_user: null, request_tags: [],
    status, prompt_tokens: 1, completion_tokens: 1, input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
    service_tier: 'standard', inference_geo: null, speed: null, spend, unpriced: status === 200 && spend === 0n, stream: false, aborted: false,
    batch_id: null, start_time: Date.parse(at), end_time: Date.parse(at) + 1, completion_start_time: null,
    session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null,
  };
}

async function get(url: string, key: string | null = MASTER_KEY): Promise<{ status: number; body: any }> {
  const res = await rawRequest(url, { headers: key ? { 'x-api-key': key } : {} });
  return { status: res.status, body: JSON.parse(res.body.toString()) };
}

describe.each(DRIVERS)('per-day spend, status filters and virtual-key scoping on %s', (driver) => {
  let db: TestDatabase;
  let mock: MockUpstream;
  let gw: Gateway;
  let url: string;
  const key = { a: '', b: '' };

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    const storage = await db.open();
    await storage.migrate('cost', ledgerMigrations);
    await new LedgerStore(storage).insert(ledgerBatch([
      old('old-1', '2021-05-01T23:59:59.999Z', 200, 5_000_000n),
      old('old-2', '2021-05-03T00:00:00.000Z', 500, 0n),
      old('old-3', '2021-05-03T10:00:00.000Z', 200, 0n),
    ]));
    await storage.close();
    mock = await createMockUpstream();
    mock.route('POST', '/v1/messages', () => ({ json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 1000, output_tokens: 500 } }) }));
    gw = await createGateway({
      config: {
        server: { host: '127.0.0.1', port: 0 },
        providers: { anthropic: { baseUrl: mock.url, apiKey: 'sk-ant-upstream' } },
        plugins: [
          { use: '@tollgate/storage', config: db.options },
          { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
          { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 20 } } },
        ],
      },
      modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin },
      env: {},
      logDestination: { write: () => undefined },
    });
    url = (await gw.listen()).url;
    for (const name of ['a', 'b'] as const) {
      const res = await rawRequest(`${url}/key/generate`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY }, body: JSON.stringify({ key_alias: `scoped-${name}` }) });
      key[name] = JSON.parse(res.body.toString()).key;
    }
    const ask = (k: string) => rawRequest(`${url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': k },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect((await ask(key.a)).status).toBe(200);
    mock.once('POST', '/v1/messages', errorReply('overloaded_error', 'Overloaded', 529));
    expect((await ask(key.a)).status).toBe(529);
    expect((await ask(key.b)).status).toBe(200);
    expect((await ask(key.b)).status).toBe(200);
    await until(async () => (await get(`${url}/spend/logs?page=1&page_size=1`)).body.total === 7, 10_000);
  });

  afterAll(async () => {
    await gw?.close({ graceMs: 0 });
    await mock?.close();
    await db?.drop();
  });

  it('sums spend, requests, failures and unpriced requests per UTC day, days without rows left out', async () => {
    expect((await get(`${url}/spend/daily?end_date=2021-12-31`)).body).toEqual([
      { date: '2021-05-01', spend: 0.000005, spend_exact: '0.000005', requests: 1, failed_requests: 0, unpriced_requests: 0 },
      { date: '2021-05-03', spend: 0, spend_exact: '0', requests: 2, failed_requests: 1, unpriced_requests: 1 },
    ]);
    const today = new Date().toISOString().slice(0, 10);
    expect((await get(`${url}/spend/daily?start_date=2022-01-01`)).body).toEqual([
      // claude-haiku-4-5 at $1 / $5 per MTok: 1000 in + 500 out = $0.0035, three times.
      { date: today, spend: 0.0105, spend_exact: '0.0105', requests: 4, failed_requests: 1, unpriced_requests: 0 },
    ]);
    expect((await get(`${url}/spend/daily?start_date=2022-01-01&status=error`)).body.map((d: any) => d.requests)).toEqual([1]);
  });

  it('filters logs by status: ok, error or one status code', async () => {
    const ids = async (q: string) => (await get(`${url}/spend/logs?${q}`)).body.map((r: any) => r.status_code).sort();
    expect(await ids('status=error')).toEqual([500, 529]);
    expect(await ids('status=529')).toEqual([529]);
    expect((await ids('status=ok')).length).toBe(5);
    expect((await get(`${url}/spend/logs?status=bad`)).status).toBe(400);
  });

  it('limits a report to its largest groups', async () => {
    const keys = (await get(`${url}/spend/report?group_by=key&limit=2`)).body.map((g: any) => g.key_alias);
    expect(keys).toEqual(['scoped-b', 'scoped-a']); // $0.007, $0.0035; the old key's $0.000005 is cut
    expect((await get(`${url}/spend/report?group_by=key&limit=0`)).status).toBe(400);
  });

  it('searches keys by the start of their alias, user or team, LIKE wildcards taken literally', async () => {
    const aliases = async (q: string) => (await get(`${url}/key/list?return_full_object=true&search=${encodeURIComponent(q)}`)).body.keys.map((k: any) => k.key_alias).sort();
    expect(await aliases('scoped-')).toEqual(['scoped-a', 'scoped-b']);
    expect(await aliases('scoped-b')).toEqual(['scoped-b']);
    expect(await aliases('%')).toEqual([]);
    expect(await aliases('scoped_a')).toEqual([]);
  });

  it("gives a virtual key its own rows only, and refuses another key's", async () => {
    const logs = await get(`${url}/spend/logs`, key.a);
    expect(logs.body.map((r: any) => [r.api_key, r.status_code]).sort()).toEqual([[sha256(key.a), 200], [sha256(key.a), 529]]);
    expect((await get(`${url}/spend/report?group_by=key`, key.b)).body.map((g: any) => g.key_alias)).toEqual(['scoped-b']);
    expect((await get(`${url}/spend/report?group_by=tag`, key.b)).body).toEqual([]);
    expect((await get(`${url}/spend/daily`, key.b)).body.map((d: any) => d.spend_exact)).toEqual(['0.007']);
    expect(await get(`${url}/spend/logs?api_key=${sha256(key.b)}`, key.a)).toEqual({
      status: 403,
      body: { type: 'error', error: { type: 'permission_error', message: 'a virtual key may read only its own spend' } },
    });
    expect((await get(`${url}/spend/logs?api_key=${encodeURIComponent(key.a)}`, key.a)).status).toBe(200);
    expect((await get(`${url}/spend/tags`, key.a)).status).toBe(401);
    const info = await get(`${url}/key/info`, key.a);
    expect([info.status, info.body.info.key_alias]).toEqual([200, 'scoped-a']);
    expect((await get(`${url}/key/info?key=${encodeURIComponent(key.b)}`, key.a)).status).toBe(403);
  });
});
