import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '@tollgate/core';
import authPlugin from '@tollgate/plugin-auth';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, messageJson, type MockUpstream } from '@tollgate/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { costPlugin } from '../src/plugin.js';
import { SpendQueries } from '../src/spend-queries.js';
import type { SpendRow } from '../src/spend-row.js';

const MASTER_KEY = 'sk-master-reports-5d1c';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Two requests from 2020, written before the gateway starts: beyond 2^53 pico-dollars in sum. */
const HISTORY_KEY = 'a'.repeat(64);
function historic(id: string, at: string, spend: bigint): SpendRow {
  return {
    request_id: id, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'claude-opus-4-1',
    api_key: HISTORY_KEY, key_alias: 'legacy-key', user_id: 'carol', team_id: 'old', end_user: 'hist', request_tags: ['legacy'],
    status: 200, prompt_tokens: 7, completion_tokens: 3, input_tokens: 7, output_tokens: 3, cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
    service_tier: 'standard', inference_geo: null, speed: null, spend, unpriced: false, stream: false, aborted: false,
    batch_id: null, start_time: Date.parse(at), end_time: Date.parse(at) + 100, completion_start_time: null,
    session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null,
  };
}

interface Reply<T = any> {
  status: number;
  body: T;
}

async function get<T = any>(url: string, key: string | null = MASTER_KEY): Promise<Reply<T>> {
  const res = await fetch(url, { headers: key ? { 'x-api-key': key } : {} });
  return { status: res.status, body: (await res.json()) as T };
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in time; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const day = (iso: string) => iso.slice(0, 10);
const badRequest = (message: string) => ({ status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message } } });

describe.each(DRIVERS)('spend reports on %s', (driver) => {
  let db: TestDatabase;
  let dir: string;
  let mock: MockUpstream;
  let gw: Gateway;
  let url: string;
  const key = { alpha: '', beta: '' };
  let logs: any[];

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    dir = await mkdtemp(join(tmpdir(), 'tg-reports-'));
    const storage = await db.open();
    await storage.migrate('cost', ledgerMigrations);
    await new LedgerStore(storage).insert(
      ledgerBatch([historic('hist-1', '2020-03-01T12:00:00.000Z', 9_000_000_000_000_001n), historic('hist-2', '2020-03-02T00:00:00.000Z', 2n)]),
    );
    await storage.close();

    mock = await createMockUpstream();
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
      env: { TOLLGATE_DATA_DIR: dir },
      logDestination: { write: () => undefined },
    });
    url = (await gw.listen()).url;

    for (const [name, user, team] of [['alpha', 'alice', 'search'], ['beta', 'bob', 'ads']] as const) {
      const res = await fetch(`${url}/key/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY },
        body: JSON.stringify({ key_alias: name, user_id: user, team_id: team }),
      });
      expect(res.status).toBe(200);
      key[name] = ((await res.json()) as { key: string }).key;
    }

    // Four requests, one after another so their start times are ordered.
    const send = async (k: string, model: string, id: string, extra: Record<string, unknown>) => {
      mock.once('POST', '/v1/messages', { json: messageJson({ id, model, usage: { input_tokens: 1000, output_tokens: 500 } }) });
      const client = new Anthropic({ apiKey: k, baseURL: `${url}/anthropic`, maxRetries: 0 });
      const params = { model, max_tokens: 16, messages: [{ role: 'user' as const, content: 'Hi' }], ...extra };
      await client.messages.create(params as Anthropic.MessageCreateParamsNonStreaming);
    };
    await send(key.alpha, 'claude-haiku-4-5', 'msg_1', { litellm_metadata: { tags: ['prod', 'search'], user: 'cust-1' } });
    await send(key.alpha, 'claude-haiku-4-5', 'msg_2', { litellm_metadata: { tags: ['prod'] }, metadata: { user_id: 'cust-2' } });
    await send(key.beta, 'claude-sonnet-4-6', 'msg_3', { litellm_metadata: { tags: ['batch-jobs'], user: 'cust-1' } });
    await send(key.beta, 'claude-unknown-9', 'msg_4', {});

    const all = await until(() => get<any[]>(`${url}/spend/logs`), (r) => r.body.length === 6);
    logs = all.body.filter((r) => !r.request_id.startsWith('hist-'));
  });

  afterAll(async () => {
    await gw?.close({ graceMs: 0 });
    await mock?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  /** The live requests' day (UTC), so reports of "today" leave the 2020 rows out. */
  const today = () => `start_date=${day(logs.at(-1).startTime)}&end_date=${day(logs[0].startTime)}`;

  it('lists every request newest first, with LiteLLM field names and every token field', () => {
    expect(logs.map((r) => r.message_id)).toEqual(['msg_4', 'msg_3', 'msg_2', 'msg_1']);
    const [r4, , , r1] = logs;
    expect(r1).toEqual({
      request_id: r1.request_id,
      call_type: 'messages',
      model: 'claude-haiku-4-5',
      api_key: sha256(key.alpha),
      key_alias: 'alpha',
      user: 'alice',
      team_id: 'search',
      end_user: 'cust-1',
      request_tags: ['prod', 'search'],
      status: 'success',
      status_code: 200,
      spend: 0.0035,
      spend_exact: '0.0035',
      prompt_tokens: 1000,
      completion_tokens: 500,
      total_tokens: 1500,
      input_tokens: 1000,
      output_tokens: 500,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
      cache_creation_5m_tokens: 0,
      cache_creation_1h_tokens: 0,
      web_search_requests: 0,
      service_tier: 'standard',
      inference_geo: null,
      speed: null,
      unpriced: false,
      estimated: false,
      served_model: 'claude-haiku-4-5',
      stream: false,
      aborted: false,
      upstream_request_id: expect.stringMatching(/^req_[0-9a-f]{24}$/),
      message_id: 'msg_1',
      batch_id: null,
      session_id: null,
      agent_id: null,
      client: 'Anthropic/JS',
      billing: 'gateway',
      budget_exempt: false,
      upstream: 'default',
      startTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      endTime: expect.stringMatching(/Z$/),
      completionStartTime: expect.stringMatching(/Z$/),
    });
    expect(Date.parse(r1.startTime)).toBeLessThanOrEqual(Date.parse(r1.completionStartTime));
    expect(Date.parse(r1.completionStartTime)).toBeLessThanOrEqual(Date.parse(r1.endTime));
    expect(r4).toMatchObject({ model: 'claude-unknown-9', key_alias: 'beta', end_user: null, request_tags: [], spend: 0, spend_exact: '0', unpriced: true, prompt_tokens: 1000 });
    expect(logs.map((r) => [r.end_user, r.spend_exact])).toEqual([[null, '0'], ['cust-1', '0.0105'], ['cust-2', '0.0035'], ['cust-1', '0.0035']]);
  });

  it('filters logs by the key itself or its hash, request id, user, end user, tag and model', async () => {
    const ids = async (query: string) => (await get<any[]>(`${url}/spend/logs?${query}`)).body.map((r) => r.message_id);
    expect(await ids(`api_key=${encodeURIComponent(key.alpha)}`)).toEqual(['msg_2', 'msg_1']);
    expect(await ids(`api_key=${sha256(key.beta)}`)).toEqual(['msg_4', 'msg_3']);
    expect(await ids(`api_key=${sha256('sk-nobody')}`)).toEqual([]);
    expect(await ids(`request_id=${encodeURIComponent(logs[2].request_id)}`)).toEqual(['msg_2']);
    expect(await ids('user_id=bob')).toEqual(['msg_4', 'msg_3']);
    expect(await ids('end_user=cust-1')).toEqual(['msg_3', 'msg_1']);
    expect(await ids('tag=prod')).toEqual(['msg_2', 'msg_1']);
    expect(await ids('tag=prod&end_user=cust-1')).toEqual(['msg_1']);
    expect(await ids('model=claude-sonnet-4-6')).toEqual(['msg_3']);
    expect((await get<any[]>(`${url}/spend/logs?tag=legacy`)).body.map((r) => r.request_id)).toEqual(['hist-2', 'hist-1']);
  });

  it('filters logs by date: a date alone is a whole UTC day, end_date included; datetimes are instants', async () => {
    const ids = async (query: string) => (await get<any[]>(`${url}/spend/logs?${query}`)).body.map((r) => r.request_id);
    expect(await ids('start_date=2020-03-01&end_date=2020-03-01')).toEqual(['hist-1']);
    expect(await ids('start_date=2020-03-01&end_date=2020-03-02')).toEqual(['hist-2', 'hist-1']);
    expect(await ids('start_date=2020-03-01T12:00:00.001Z&end_date=2020-03-02T00:00:00Z')).toEqual(['hist-2']);
    expect(await ids('start_date=2020-03-01T00:00:00&end_date=2020-03-01T12:00:00Z')).toEqual(['hist-1']);
    expect(await ids('end_date=2020-03-01T11:59:59.999Z')).toEqual([]);
    expect(await ids('start_date=2020-03-02T01:00:00%2B02:00&end_date=2020-12-31')).toEqual(['hist-2']);
    expect(await ids(today())).toEqual(logs.map((r) => r.request_id));
  });

  it('pages when asked: { data, total, total_is_lower_bound, page, page_size, total_pages }', async () => {
    const first = await get(`${url}/spend/logs?page=1&page_size=4`);
    expect(first.body).toEqual({ data: logs, total: 6, total_is_lower_bound: false, page: 1, page_size: 4, total_pages: 2 });
    const second = await get(`${url}/spend/logs?page=2&page_size=4`);
    expect(second.body.data.map((r: any) => r.request_id)).toEqual(['hist-2', 'hist-1']);
    expect(second.body).toMatchObject({ total: 6, page: 2, page_size: 4, total_pages: 2 });
    expect((await get(`${url}/spend/logs?page=3&tag=prod`)).body).toEqual({ data: [], total: 2, total_is_lower_bound: false, page: 3, page_size: 50, total_pages: 1 });
  });

  it('sums exactly beyond 2^53 pico-dollars', async () => {
    const [h2, h1] = (await get<any[]>(`${url}/spend/logs?tag=legacy`)).body;
    expect([h1.spend_exact, h2.spend_exact]).toEqual(['9000.000000000001', '0.000000000002']);
    const report = await get(`${url}/spend/report?group_by=end_user&start_date=2020-01-01&end_date=2020-12-31`);
    expect(report.body).toEqual([
      { key: 'hist', spend: 9000.000000000003, spend_exact: '9000.000000000003', requests: 2, prompt_tokens: 14, completion_tokens: 6, unpriced_requests: 0 },
    ]);
    const customer = await get(`${url}/customer/info?end_user_id=hist`);
    expect(customer.body).toMatchObject({ spend_exact: '9000.000000000003', request_count: 2 });
  });

  it('answers /customer/info from the running totals, and 404 for an unknown end user', async () => {
    const info = await get(`${url}/customer/info?end_user_id=cust-1`);
    expect(info).toEqual({
      status: 200,
      body: {
        user_id: 'cust-1', alias: null, blocked: false, spend: 0.014, spend_exact: '0.014', litellm_budget_table: null, created_at: null, updated_at: null,
        request_count: 2, first_seen: logs[3].startTime, last_seen: logs[1].startTime,
      },
    });
    expect((await get(`${url}/customer/info?end_user_id=cust-2`)).body).toMatchObject({ spend_exact: '0.0035', request_count: 1 });
    expect(await get(`${url}/customer/info?end_user_id=nobody`)).toEqual({
      status: 404,
      body: { type: 'error', error: { type: 'not_found_error', message: 'no requests recorded for end user "nobody"' } },
    });
    expect(await get(`${url}/customer/info`)).toEqual(badRequest('query parameter end_user_id is required'));
  });

  it('reports spend per tag, largest first', async () => {
    expect((await get(`${url}/spend/tags?${today()}`)).body).toEqual([
      { individual_request_tag: 'batch-jobs', log_count: 1, total_spend: 0.0105, total_spend_exact: '0.0105' },
      { individual_request_tag: 'prod', log_count: 2, total_spend: 0.007, total_spend_exact: '0.007' },
      { individual_request_tag: 'search', log_count: 1, total_spend: 0.0035, total_spend_exact: '0.0035' },
    ]);
    const all = (await get<any[]>(`${url}/spend/tags`)).body;
    expect(all.map((t) => [t.individual_request_tag, t.log_count, t.total_spend_exact])).toEqual([
      ['legacy', 2, '9000.000000000003'], ['batch-jobs', 1, '0.0105'], ['prod', 2, '0.007'], ['search', 1, '0.0035'],
    ]);
  });

  it('reports spend grouped by key, user, team, end user, tag and model, with exact sums', async () => {
    const report = async (by: string) => (await get<any[]>(`${url}/spend/report?group_by=${by}&${today()}`)).body;
    const row = (k: string | null, spend: number, exact: string, requests: number, unpriced = 0) => ({
      key: k, spend, spend_exact: exact, requests, prompt_tokens: 1000 * requests, completion_tokens: 500 * requests, unpriced_requests: unpriced,
    });
    expect(await report('key')).toEqual([
      { ...row(sha256(key.beta), 0.0105, '0.0105', 2, 1), key_alias: 'beta' },
      { ...row(sha256(key.alpha), 0.007, '0.007', 2), key_alias: 'alpha' },
    ]);
    expect(await report('user')).toEqual([row('bob', 0.0105, '0.0105', 2, 1), row('alice', 0.007, '0.007', 2)]);
    expect(await report('team')).toEqual([row('ads', 0.0105, '0.0105', 2, 1), row('search', 0.007, '0.007', 2)]);
    expect(await report('end_user')).toEqual([row('cust-1', 0.014, '0.014', 2), row('cust-2', 0.0035, '0.0035', 1), row(null, 0, '0', 1, 1)]);
    expect(await report('tag')).toEqual([row('batch-jobs', 0.0105, '0.0105', 1), row('prod', 0.007, '0.007', 2), row('search', 0.0035, '0.0035', 1)]);
    expect(await report('model')).toEqual([
      row('claude-sonnet-4-6', 0.0105, '0.0105', 1), row('claude-haiku-4-5', 0.007, '0.007', 2), row('claude-unknown-9', 0, '0', 1, 1),
    ]);
    const everything = (await get<any[]>(`${url}/spend/report?group_by=team`)).body;
    expect(everything.map((r) => [r.key, r.spend_exact])).toEqual([['old', '9000.000000000003'], ['ads', '0.0105'], ['search', '0.007']]);
  });

  it('lists prices and the ledger queue', async () => {
    const prices = await get<any[]>(`${url}/prices`);
    expect(prices.status).toBe(200);
    const haiku = prices.body.find((m) => m.id === 'claude-haiku-4-5-20251001');
    expect(haiku.aliases).toEqual(['claude-haiku-4-5']);
    expect(haiku.rows[0].standard).toEqual({ input: '1', output: '5', cacheWrite5m: '1.25', cacheWrite1h: '2', cacheRead: '0.1' });
    expect((await get(`${url}/spend/queue`)).body).toEqual({ queued: 0, spooled: 0, writeFailures: 0, rejected: 0, lost: 0, healthy: true });
  });

  it('needs the master key on every report but the ones a virtual key may read for itself', async () => {
    for (const path of ['/spend/logs', '/spend/daily', '/spend/report?group_by=tag']) {
      expect(await get(`${url}${path}`, null)).toEqual({
        status: 401,
        body: { type: 'error', error: { type: 'authentication_error', message: 'this route needs the master key or a virtual key' } },
      });
      expect((await get(`${url}${path}`, 'sk-nobody')).status).toBe(401);
    }
    for (const path of ['/spend/tags', '/customer/info?end_user_id=cust-1', '/spend/queue', '/prices']) {
      expect(await get(`${url}${path}`, null)).toEqual({
        status: 401,
        body: { type: 'error', error: { type: 'authentication_error', message: 'the admin API needs the master key' } },
      });
      expect((await get(`${url}${path}`, key.alpha)).status).toBe(401);
    }
  });

  it('refuses bad parameters with a 400 naming the parameter', async () => {
    expect(await get(`${url}/spend/report?group_by=project`)).toEqual(
      badRequest('group_by must be one of key, user, team, end_user, tag, model, session, client, billing, got "project"'),
    );
    expect(await get(`${url}/spend/report`)).toEqual(badRequest('query parameter group_by is required (one of key, user, team, end_user, tag, model, session, client, billing)'));
    expect(await get(`${url}/spend/logs?start_date=2024-02-30`)).toEqual(
      badRequest('start_date must be an ISO date (2025-01-31) or datetime (2025-01-31T12:00:00Z), got "2024-02-30"'),
    );
    expect(await get(`${url}/spend/logs?end_date=yesterday`)).toEqual(
      badRequest('end_date must be an ISO date (2025-01-31) or datetime (2025-01-31T12:00:00Z), got "yesterday"'),
    );
    expect(await get(`${url}/spend/tags?start_date=2025-02-01&end_date=2025-01-31`)).toEqual(badRequest('end_date (2025-01-31) is before start_date (2025-02-01)'));
    expect(await get(`${url}/spend/logs?page_size=0`)).toEqual(badRequest('page_size must be a whole number from 1 to 1000, got "0"'));
    expect(await get(`${url}/spend/logs?page=x`)).toEqual(badRequest('page must be a whole number from 1 to 9007199254740991, got "x"'));
    expect(await get(`${url}/spend/logs?enduser=cust-1`)).toEqual(
      badRequest('unknown query parameter enduser (expected one of api_key, request_id, user_id, end_user, tag, model, status, start_date, end_date, page, page_size)'),
    );
    expect(await get(`${url}/spend/logs?tag=a&tag=b`)).toEqual(badRequest('query parameter tag is given more than once'));
    expect(await get(`${url}/spend/logs?tag=`)).toEqual(badRequest('query parameter tag is empty'));
  });
});

describe.each(DRIVERS)('report sums on %s', (driver) => {
  it('stay exact past 2^63 pico-dollars (about $9.2M), where an integer sum() overflows', async () => {
    const db = await createTestDatabase(driver);
    const storage = await db.open();
    try {
      await storage.migrate('cost', ledgerMigrations);
      const store = new LedgerStore(storage);
      const big = 9_000_000_000_000_000_001n; // $9,000,000.000000000001, near the largest bigint
      await store.insert(ledgerBatch([historic('b1', '2021-01-01T00:00:00Z', big), historic('b2', '2021-01-02T00:00:00Z', big), historic('b3', '2021-01-03T00:00:00Z', 999_999n)]));
      const [group] = await new SpendQueries(store.db).report('model', {});
      expect(group).toEqual({ key: 'claude-opus-4-1', spend: 2n * big + 999_999n, requests: 3, promptTokens: 21, completionTokens: 9, unpricedRequests: 0 });
      const [tag] = await new SpendQueries(store.db).report('tag', { from: Date.parse('2021-01-02T00:00:00Z') });
      expect(tag).toEqual({ key: 'legacy', spend: big + 999_999n, requests: 2, promptTokens: 14, completionTokens: 6, unpricedRequests: 0 });
    } finally {
      await storage.close();
      await db.drop();
    }
  });
});

describe('spend reports without an auth plugin', () => {
  it('are refused', async () => {
    const db = await createTestDatabase('sqlite');
    const dir = await mkdtemp(join(tmpdir(), 'tg-reports-'));
    const gw = await createGateway({
      config: { server: { host: '127.0.0.1', port: 0 }, plugins: [{ use: '@tollgate/storage', config: db.options }, { use: '@tollgate/plugin-cost' }] },
      modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-cost': costPlugin },
      env: { TOLLGATE_DATA_DIR: dir },
      logDestination: { write: () => undefined },
    });
    try {
      const { url } = await gw.listen();
      expect(await get(`${url}/spend/logs`)).toEqual({
        status: 403,
        body: { type: 'error', error: { type: 'permission_error', message: 'spend reports need the auth plugin' } },
      });
    } finally {
      await gw.close({ graceMs: 0 });
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
