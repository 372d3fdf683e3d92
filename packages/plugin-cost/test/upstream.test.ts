import Anthropic from '@anthropic-ai/sdk';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, errorReply, messageStreamEvents, type MockUpstream } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASTER_KEY, startCostHarness, until, type CostHarness } from './harness.js';

const PICO = 1_000_000n; // pico-dollars per token at $1 per million
const MODEL = 'claude-haiku-4-5';

describe.each(DRIVERS)('the ledger of a pool of upstreams on %s', (driver) => {
  let db: TestDatabase;
  let storage: Storage;
  let h: CostHarness;
  let a: MockUpstream;
  let b: MockUpstream;
  let sdk: Anthropic;

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    a = await createMockUpstream({ apiKey: 'sk-ant-a' });
    b = await createMockUpstream({ apiKey: 'sk-ant-b' });
    const upstreams = [
      { name: 'a', baseUrl: a.url, apiKey: 'sk-ant-a' },
      { name: 'b', baseUrl: b.url, apiKey: 'sk-ant-b' },
    ];
    h = await startCostHarness({ db, mock: a, providers: { anthropic: { apiKey: undefined, upstreams } } });
    storage = await db.open();
    const { key } = (await h.admin('POST', '/key/generate', { key_alias: 'pool' })).body;
    sdk = new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all([a?.close(), b?.close()]);
    await storage?.close();
    await db?.drop();
  });

  async function rowOf(id: string): Promise<Record<string, any>> {
    let row: Record<string, any> | undefined;
    await until(async () => {
      row = (await sql<Record<string, any>>`select *, cast(spend as text) as spend_text from tollgate_spend_logs where request_id = ${id}`.execute(storage.db)).rows[0];
      return row !== undefined;
    });
    return row!;
  }

  it('names the upstream that answered, after a failover, never its key', async () => {
    a.route('POST', '/v1/messages', { ...errorReply('rate_limit_error', 'slow down'), headers: { 'retry-after': '30' } });
    const before = h.completed.length;
    const answer = await sdk.messages.create({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
    expect(answer.type).toBe('message');
    await until(() => h.completed.length > before);
    const record = h.completed.at(-1)!;
    const row = await rowOf(record.id);
    // Either a was tried first (429, then b) or b was first: b answered in both cases.
    expect(row.upstream).toBe('b');
    expect(row.status).toBe(200);
    expect(JSON.stringify(row)).not.toContain('sk-ant-');
    const logs = await h.admin('GET', `/spend/logs?request_id=${record.id}`);
    expect(logs.body.map((r: { upstream: string }) => r.upstream)).toContain('b');
  });

  it('bills a stream cut after its first event from its partial usage, on the one upstream it reached', async () => {
    const events = messageStreamEvents({ model: MODEL, text: ['one', 'two'], usage: { input_tokens: 21, output_tokens: 9 } });
    b.route('POST', '/v1/messages', { sse: events, hangUpAfterEvents: 2 });
    const before = h.completed.length;
    const requestsBefore = a.requests.length + b.requests.length;
    const stream = sdk.messages.stream({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
    await expect(stream.finalMessage()).rejects.toThrow();
    await until(() => h.completed.length > before);
    const record = h.completed.at(-1)!;
    expect(record.attempts).toBeUndefined();
    expect(a.requests.length + b.requests.length).toBe(requestsBefore + 1);
    const row = await rowOf(record.id);
    expect(row.upstream).toBe('b');
    // message_start said 21 input tokens and 1 output token so far: $1 and $5 per million.
    expect(BigInt(row.spend_text)).toBe(21n * PICO + 1n * 5n * PICO);
    expect(row.input_tokens).toBe(21);
    expect(row.output_tokens).toBe(1);
  });
});

void MASTER_KEY;

describe.each(DRIVERS)('the batch settlement job in a pool of upstreams on %s', (driver) => {
  let db: TestDatabase;
  let storage: Storage;
  let h: CostHarness;
  let a: MockUpstream;
  let b: MockUpstream;
  let sdk: Anthropic;
  const params = { model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user' as const, content: 'Hi' }] };

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    a = await createMockUpstream({ apiKey: 'sk-ant-a' });
    b = await createMockUpstream({ apiKey: 'sk-ant-b' });
    // Batches of Sonnet can only go to b: that is where they live.
    const upstreams = [
      { name: 'a', baseUrl: a.url, apiKey: 'sk-ant-a', models: [MODEL] },
      { name: 'b', baseUrl: b.url, apiKey: 'sk-ant-b', models: ['claude-sonnet-4-5'], headers: { 'anthropic-workspace-id': 'wrkspc_b' } },
    ];
    h = await startCostHarness({ db, mock: a, providers: { anthropic: { apiKey: undefined, upstreams } } });
    storage = await db.open();
    const { key } = (await h.admin('POST', '/key/generate', { key_alias: 'batches' })).body;
    sdk = new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all([a?.close(), b?.close()]);
    await storage?.close();
    await db?.drop();
  });

  const settlementCalls = (m: MockUpstream) => m.requests.filter((r) => r.headers['user-agent'] === 'tollgate-batch-settlement');
  const results = async (batchId: string) =>
    (await sql<{ request_id: string; upstream: string | null }>`select request_id, upstream from tollgate_spend_logs where batch_id = ${batchId} and call_type = 'batch_result'`.execute(storage.db)).rows;

  it('asks the upstream that created a batch, with its own key and headers, and books its results to that upstream', async () => {
    const before = h.completed.length;
    const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'on-b', params }] });
    expect(b.batches.get(batch.id)).toBeDefined();
    await h.committed(before + 1);
    const run = await h.admin('POST', '/spend/batches/settle');
    expect(run.body).toEqual({ checked: 1, settled: 1, booked: 1, failed: 0 });
    expect(settlementCalls(a)).toEqual([]);
    expect(settlementCalls(b).map((r) => [r.path, r.headers['x-api-key'], r.headers['anthropic-workspace-id']])).toEqual([
      [`/v1/messages/batches/${batch.id}`, 'sk-ant-b', 'wrkspc_b'],
      [`/v1/messages/batches/${batch.id}/results`, 'sk-ant-b', 'wrkspc_b'],
    ]);
    await h.committed(before + 1);
    expect(await results(batch.id)).toEqual([{ request_id: `${batch.id}:on-b`, upstream: 'b' }]);
  });

  it('leaves a batch whose upstream left the pool for a later run, and settles it once the upstream is back', async () => {
    const before = h.completed.length;
    const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'back', params }] });
    await h.committed(before + 1);
    const booted = h.gw.config.providers.anthropic;
    h.gw.reloadUpstreams({ ...booted, upstreams: booted.upstreams!.slice(0, 1) });
    expect((await h.admin('POST', '/spend/batches/settle')).body).toEqual({ checked: 1, settled: 0, booked: 0, failed: 1 });
    expect(h.logs.find((l) => l.includes('could not settle a batch') && l.includes(batch.id))).toContain('the upstream \\"b\\" that created it is not in the pool');
    h.gw.reloadUpstreams(booted);
    expect((await h.admin('POST', '/spend/batches/settle')).body).toEqual({ checked: 1, settled: 1, booked: 1, failed: 0 });
    await h.committed(before + 1);
    expect(await results(batch.id)).toEqual([{ request_id: `${batch.id}:back`, upstream: 'b' }]);
  });
});

describe.each(DRIVERS)("reconciliation per upstream with Anthropic's cost report on %s", (driver) => {
  let db: TestDatabase;
  let storage: Storage;
  let h: CostHarness;
  let a: MockUpstream;
  let b: MockUpstream;
  let sdk: Anthropic;

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    // No key check on a: it also serves the Admin API's cost report, to the admin key.
    a = await createMockUpstream();
    b = await createMockUpstream();
    // The same model on both, by its alias on a and its dated id on b (the report names them alike).
    const upstreams = [
      { name: 'a', baseUrl: a.url, apiKey: 'sk-ant-a', models: [MODEL] },
      { name: 'b', baseUrl: b.url, apiKey: 'sk-ant-b', models: ['claude-haiku-4-5-20251001'] },
    ];
    const reconcile = { adminKey: 'sk-ant-admin01-pool', apiKeyIds: { a: 'apikey_01a', b: 'apikey_02b' } };
    h = await startCostHarness({ db, mock: a, providers: { anthropic: { apiKey: undefined, upstreams } }, costConfig: { reconcile } });
    storage = await db.open();
    const { key } = (await h.admin('POST', '/key/generate', { key_alias: 'reconcile' })).body;
    sdk = new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all([a?.close(), b?.close()]);
    await storage?.close();
    await db?.drop();
  });

  it('compares each upstream with its own key: zero drift where its bill matches, the exact drift where its price differs; rows naming no upstream are unattributed', async () => {
    const usage = { input_tokens: 1000, output_tokens: 500 };
    for (const m of [a, b]) m.route('POST', '/v1/messages', (req) => ({ json: { id: 'msg_r', type: 'message', role: 'assistant', model: (req.json() as { model: string }).model, content: [], stop_reason: 'end_turn', stop_sequence: null, usage } }));
    const before = h.completed.length;
    for (const model of [MODEL, MODEL, 'claude-haiku-4-5-20251001']) await sdk.messages.create({ model, max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
    await h.committed(before + 3);
    const rows = (await sql<{ upstream: string; n: number; at: number }>`select upstream, count(*) as n, min(start_time) as at from tollgate_spend_logs where call_type = 'messages' group by upstream order by upstream`.execute(storage.db)).rows;
    expect(rows.map((r) => [r.upstream, Number(r.n)])).toEqual([['a', 2], ['b', 1]]);
    // A row from before the ledger named upstreams: with two mapped keys, it cannot be placed.
    const at = Number(rows[0]!.at);
    await sql`insert into tollgate_spend_logs (request_id, call_type, model, spend, start_time, end_time) values ('req_before_pools', 'messages', ${MODEL}, ${'1000000000'}, ${at}, ${at})`.execute(storage.db);
    const day = new Date(at).toISOString().slice(0, 10);
    a.costReport.adminKey = 'sk-ant-admin01-pool';
    a.costReport.add(
      // a: two requests at $0.0035 each, as booked.
      { date: day, model: 'claude-haiku-4-5-20251001', apiKeyId: 'apikey_01a', cents: '0.7' },
      // b: one request billed at 10% more than the book's price ($0.00385, the ledger $0.0035).
      { date: day, model: 'claude-haiku-4-5-20251001', apiKeyId: 'apikey_02b', cents: '0.385' },
      { date: day, model: 'claude-haiku-4-5-20251001', apiKeyId: 'apikey_03other', cents: '500' },
    );
    const res = await h.admin('GET', `/spend/reconcile?start_date=${day}`);
    expect(res.status).toBe(200);
    expect(res.body.lines).toEqual([
      { date: day, model: 'claude-haiku-4-5-20251001', upstream_key: 'a', ledger_usd: '0.007', anthropic_usd: '0.007', drift_usd: '0', flagged: false },
      { date: day, model: 'claude-haiku-4-5-20251001', upstream_key: 'b', ledger_usd: '0.0035', anthropic_usd: '0.00385', drift_usd: '-0.00035', flagged: false },
      { date: day, model: 'claude-haiku-4-5-20251001', upstream_key: 'unattributed', ledger_usd: '0.001', anthropic_usd: '0', drift_usd: '0.001', flagged: false },
    ]);
  });
});
