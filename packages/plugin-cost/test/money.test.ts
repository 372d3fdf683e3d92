import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { messageStreamEvents, type SseEventSpec } from '@tollgate/testing';
import { startCostHarness, until, type CostHarness } from './harness.js';

function message(model: string, usage: Record<string, unknown>) {
  return { id: 'msg_money', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'x' }], stop_reason: 'end_turn', stop_sequence: null, usage };
}

// Sonnet 4.6 executor ($3 / $15) consulting an Opus 4.7 advisor ($5 / $25):
// executor 1,000 in + 500 out = $0.003 + $0.0075; advisor 2,000 in + 600 out = $0.01 + $0.015.
const ADVISED = {
  input_tokens: 1000,
  output_tokens: 500,
  iterations: [
    { type: 'message', input_tokens: 600, output_tokens: 200 },
    { type: 'advisor_message', model: 'claude-opus-4-7', input_tokens: 2000, output_tokens: 600, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    { type: 'message', input_tokens: 400, output_tokens: 300 },
  ],
};

/** A stream whose final message_delta carries the iterations, as Anthropic sends them. */
function advisedStream(model: string, usage: Record<string, unknown>): SseEventSpec[] {
  const { iterations, ...top } = usage;
  return messageStreamEvents({ model, usage: top }).map((e) =>
    e.event === 'message_delta' ? { ...e, data: { ...(e.data as object), usage: { output_tokens: top.output_tokens, iterations } } } : e,
  );
}

describe.each(DRIVERS)('money on %s', (driver) => {
  let db: TestDatabase;
  let storage: Storage;
  let h: CostHarness;
  let sdk: Anthropic;
  let budgeted: Anthropic;

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    h = await startCostHarness({ db });
    storage = await db.open();
    sdk = new Anthropic({ apiKey: (await h.admin('POST', '/key/generate', {})).body.key, baseURL: h.baseURL, maxRetries: 0 });
    budgeted = new Anthropic({ apiKey: (await h.admin('POST', '/key/generate', { max_budget: 100 })).body.key, baseURL: h.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await storage?.close();
    await db?.drop();
  });
  afterEach(() => h.mock.reset());

  async function rowOf(id: string): Promise<Record<string, any>> {
    let row: Record<string, any> | undefined;
    await until(async () => {
      row = (await sql<Record<string, any>>`select *, cast(spend as text) as spend_text from tollgate_spend_logs where request_id = ${id}`.execute(storage.db)).rows[0];
      return row !== undefined;
    });
    return row!;
  }

  async function send(client: Anthropic, params: Record<string, unknown>): Promise<Record<string, any>> {
    const before = h.completed.length;
    if (params.stream) for await (const _ of (await client.messages.create(params as never)) as unknown as AsyncIterable<unknown>) void _;
    else await client.messages.create(params as never);
    await until(() => h.completed.length > before);
    return rowOf(h.completed.at(-1)!.id);
  }

  const ask = (model: string, extra: Record<string, unknown> = {}) => ({ model, max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }], ...extra });

  it('prices advisor iterations at the advisor model, non-streaming and streaming alike', async () => {
    h.mock.once('POST', '/v1/messages', { json: message('claude-sonnet-4-6', ADVISED) });
    const json = await send(sdk, ask('claude-sonnet-4-6'));
    expect([json.spend_text, json.unpriced, json.model, json.served_model]).toEqual(['35500000000', 0, 'claude-sonnet-4-6', 'claude-sonnet-4-6']);
    h.mock.once('POST', '/v1/messages', { sse: advisedStream('claude-sonnet-4-6', ADVISED) });
    const streamed = await send(sdk, ask('claude-sonnet-4-6', { stream: true }));
    expect([streamed.spend_text, streamed.unpriced, streamed.stream]).toEqual(['35500000000', 0, 1]);
  });

  it('leaves the whole row unpriced when one advisor iteration has no price', async () => {
    const usage = { ...ADVISED, iterations: [{ ...ADVISED.iterations[1], model: 'claude-opus-9-9' }] };
    h.mock.once('POST', '/v1/messages', { json: message('claude-sonnet-4-6', usage) });
    const { response } = await sdk.messages.create(ask('claude-sonnet-4-6') as never).withResponse();
    expect(response.headers.get('x-tollgate-response-cost')).toBeNull();
    const row = await rowOf(h.completed.at(-1)!.id);
    expect([row.spend_text, row.unpriced, row.input_tokens]).toEqual(['0', 1, 1000]);
  });

  it('prices a fallback turn at the model that served it, recording requested and served model', async () => {
    // Opus 5.5 asked for, Sonnet 5.5 served ($2 / $10): 1,000 in + 500 out = $0.007.
    const usage = { input_tokens: 1000, output_tokens: 500, iterations: [{ type: 'fallback_message', model: 'claude-sonnet-5-5', input_tokens: 1000, output_tokens: 500 }] };
    h.mock.once('POST', '/v1/messages', { sse: advisedStream('claude-sonnet-5-5', usage) });
    const row = await send(sdk, ask('claude-opus-5-5', { stream: true }));
    expect([row.model, row.served_model, row.spend_text, row.unpriced]).toEqual(['claude-opus-5-5', 'claude-sonnet-5-5', '7000000000', 0]);
  });

  it('refuses a budgeted key anything unpriced before it goes upstream, with a 403 naming it', async () => {
    h.mock.route('POST', '/v1/messages', { json: message('claude-haiku-4-5', { input_tokens: 10, output_tokens: 5 }) });
    const cases: Array<[Record<string, unknown>, string]> = [
      [ask('claude-brand-new-1'), 'model "claude-brand-new-1"'],
      [ask('claude-sonnet-4-6', { speed: 'fast' }), 'speed "fast" on model "claude-sonnet-4-6"'],
      [ask('claude-opus-4-8', { speed: 'fast' }), 'speed "fast" on model "claude-opus-4-8"'],
      [ask('claude-sonnet-4-6', { tools: [{ type: 'advisor_20260301', name: 'advisor', model: 'claude-opus-9-9' }] }), 'advisor model "claude-opus-9-9"'],
      [ask('claude-mythos-preview'), 'model "claude-mythos-preview"'],
    ];
    for (const [params, what] of cases) {
      const err = (await budgeted.messages.create(params as never).catch((e: unknown) => e)) as APIError;
      expect(err.status, what).toBe(403);
      expect((err.error as { error: unknown }).error).toEqual({
        type: 'permission_error',
        message: `this key has a budget, and the gateway has no price for ${what}: the request was refused so its spend cannot escape the budget (ask an admin to add a price)`,
      });
    }
    expect(h.mock.requests).toHaveLength(0);
    // Priced asks go through; a key without a budget may still use the unpriced model (booked unpriced).
    await budgeted.messages.create(ask('claude-opus-5-5', { speed: 'fast', inference_geo: 'us' }) as never);
    const row = await send(sdk, ask('claude-brand-new-1'));
    expect([row.unpriced, row.spend_text]).toEqual([1, '0']);
    expect(h.mock.requests).toHaveLength(2);
  });

  it('/spend/logs says success or failure as LiteLLM does, with the HTTP status beside it', async () => {
    h.mock.once('POST', '/v1/messages', { status: 529, json: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    await sdk.messages.create(ask('claude-haiku-4-5') as never).catch(() => undefined);
    const failedId = h.completed.at(-1)!.id;
    h.mock.once('POST', '/v1/messages', { json: message('claude-haiku-4-5', { input_tokens: 10, output_tokens: 5 }) });
    const ok = await send(sdk, ask('claude-haiku-4-5'));
    await rowOf(failedId);
    const logs = (await h.admin('GET', '/spend/logs')).body as Array<Record<string, unknown>>;
    const pick = (id: string) => logs.find((r) => r.request_id === id)!;
    expect([pick(failedId).status, pick(failedId).status_code]).toEqual(['failure', 529]);
    expect([pick(ok.request_id).status, pick(ok.request_id).status_code]).toEqual(['success', 200]);
  });
});

describe('the estimate policy', () => {
  let db: TestDatabase;
  let h: CostHarness;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    h = await startCostHarness({ db, costConfig: { unpriced: { policy: 'estimate' } } });
  });
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('books an unpriced model at the dearest row of its family, flagged estimated, against the budget', async () => {
    const { key, token } = (await h.admin('POST', '/key/generate', { max_budget: 0.1 })).body;
    const client = new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
    // The dearest Opus rows are $15 / $75: 1,000 in + 500 out = $0.0525 each.
    h.mock.route('POST', '/v1/messages', { json: message('claude-opus-9', { input_tokens: 1000, output_tokens: 500 }) });
    const params = { model: 'claude-opus-9', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hi' }] };
    const { response } = await client.messages.create(params).withResponse();
    expect(response.headers.get('x-tollgate-response-cost')).toBe('0.0525');
    await client.messages.create(params);
    await until(() => h.completed.filter((r) => r.principal?.keyHash === token).length === 2);
    const err = (await client.messages.create(params).catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(429);
    const booked = async () => ((await h.admin('GET', '/spend/logs')).body as Array<Record<string, unknown>>).filter((r) => r.status_code === 200);
    await until(async () => (await booked()).length === 2);
    const logs = await booked();
    expect(logs.map((r) => [r.spend_exact, r.estimated, r.unpriced])).toEqual([['0.0525', true, false], ['0.0525', true, false]]);
    // A model of no known family cannot be estimated: still refused for a budgeted key.
    const fresh = new Anthropic({ apiKey: (await h.admin('POST', '/key/generate', { max_budget: 1 })).body.key, baseURL: h.baseURL, maxRetries: 0 });
    const unknown = (await fresh.messages.create({ ...params, model: 'gizmo-1' }).catch((e: unknown) => e)) as APIError;
    expect(unknown.status).toBe(403);
  });
});

describe.each(DRIVERS)("reconciliation with Anthropic's cost report on %s", (driver) => {
  let db: TestDatabase;
  let h: CostHarness;
  let sdk: Anthropic;

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    h = await startCostHarness({ db, costConfig: { reconcile: { adminKey: 'sk-ant-admin01-test', apiKeyIds: { primary: 'apikey_01primary' } } } });
    sdk = new Anthropic({ apiKey: (await h.admin('POST', '/key/generate', {})).body.key, baseURL: h.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('shows zero drift where the bill matches, the exact drift of a price the book has not seen, across pages', async () => {
    h.mock.route('POST', '/v1/messages', (req) => {
      const model = (req.json() as { model: string }).model;
      return { json: message(model, { input_tokens: 1000, output_tokens: 500 }) };
    });
    await sdk.messages.create({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'a' }] });
    await sdk.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 8, messages: [{ role: 'user', content: 'b' }] });
    await until(async () => ((await h.admin('GET', '/spend/logs')).body as unknown[]).length === 2);
    const day = ((await h.admin('GET', '/spend/logs')).body as Array<{ startTime: string }>)[0]!.startTime.slice(0, 10);
    const old = new Date(Date.parse(`${day}T00:00:00Z`) - 35 * 86_400_000).toISOString().slice(0, 10);
    h.mock.costReport.adminKey = 'sk-ant-admin01-test';
    h.mock.costReport.add(
      // Haiku 4.5 as booked: $0.0035 = 0.35 cents.
      { date: day, model: 'claude-haiku-4-5-20251001', apiKeyId: 'apikey_01primary', cents: '0.35' },
      // Sonnet 4.6 billed at $3.30 / $16.50 (a change the book has not seen): $0.01155, the ledger $0.0105.
      { date: day, model: 'claude-sonnet-4-6', apiKeyId: 'apikey_01primary', cents: '1.155' },
      // Another key of the organisation, not this gateway's: left out.
      { date: day, model: 'claude-sonnet-4-6', apiKeyId: 'apikey_02other', cents: '900' },
      // 35 days back: on the report's first page of 31 days, absent from the ledger.
      { date: old, model: 'claude-opus-4-7', apiKeyId: 'apikey_01primary', cents: '12.5' },
    );
    const res = await h.admin('GET', `/spend/reconcile?start_date=${old}`);
    expect(res.status).toBe(200);
    expect(res.body.lines).toEqual([
      { date: old, model: 'claude-opus-4-7', upstream_key: 'primary', ledger_usd: '0', anthropic_usd: '0.125', drift_usd: '-0.125', flagged: true },
      { date: day, model: 'claude-haiku-4-5-20251001', upstream_key: 'primary', ledger_usd: '0.0035', anthropic_usd: '0.0035', drift_usd: '0', flagged: false },
      { date: day, model: 'claude-sonnet-4-6', upstream_key: 'primary', ledger_usd: '0.0105', anthropic_usd: '0.01155', drift_usd: '-0.00105', flagged: false },
    ]);
    const reportCalls = h.mock.requests.filter((r) => r.path.startsWith('/v1/organizations/cost_report'));
    expect(reportCalls.map((r) => new URLSearchParams(r.path.split('?')[1]).get('page'))).toEqual([null, 'page_31']);
    expect(reportCalls.every((r) => r.headers['x-api-key'] === 'sk-ant-admin01-test')).toBe(true);
    // The flagged line (over the $0.01 default threshold) is logged with its drift; the admin key never is.
    const drift = h.logs.filter((l) => l.includes('spend drift')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(drift.map((l) => [l.date, l.model, l.driftUsd])).toEqual([[old, 'claude-opus-4-7', '-0.125']]);
    expect(h.logs.some((l) => l.includes('sk-ant-admin01-test'))).toBe(false);
  });
});

describe('prices that change without a restart', () => {
  let db: TestDatabase;
  let h: CostHarness;
  let sdk: Anthropic;
  let dir: string;
  let file: string;
  let server: Server;
  let served = '';

  const newModel = (input: number, output: number) => JSON.stringify({ models: { 'claude-newest-1': { prices: [{ input, output, cache_write_5m: input * 1.25, cache_write_1h: input * 2, cache_read: input / 10, batch_input: input / 2, batch_output: output / 2, source: 'test' }] } } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-prices-'));
    file = join(dir, 'extra.json');
    await writeFile(file, JSON.stringify({ models: {} }));
    server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(served));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    served = JSON.stringify({ models: {} });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prices.json?token=s3cret`;
    db = await createTestDatabase('sqlite');
    h = await startCostHarness({ db, costConfig: { prices: { files: [file], url } } });
    sdk = new Anthropic({ apiKey: (await h.admin('POST', '/key/generate', {})).body.key, baseURL: h.baseURL, maxRetries: 0 });
    h.mock.route('POST', '/v1/messages', { json: message('claude-newest-1', { input_tokens: 1000, output_tokens: 500 }) });
  });
  afterAll(async () => {
    await h?.close();
    await db?.drop();
    await new Promise((r) => server?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const ask = { model: 'claude-newest-1', max_tokens: 8, messages: [{ role: 'user' as const, content: 'x' }] };
  const cost = async () => (await sdk.messages.create(ask).withResponse()).response.headers.get('x-tollgate-response-cost');
  const logs = async () => ((await h.admin('GET', '/spend/logs')).body as Array<Record<string, unknown>>).reverse();

  it('takes a file change on reload, keeps earlier rows at their price, reprices what had none', async () => {
    expect(await cost()).toBeNull();
    await writeFile(file, newModel(2, 10));
    const diff = await h.admin('POST', '/prices/diff', { name: 'extra.json', content: newModel(2, 10) });
    expect(diff.body).toEqual({ changes: ['+ claude-newest-1 (new model, 1 row(s))'] });
    const reloaded = await h.admin('POST', '/prices/reload');
    expect(reloaded.status).toBe(200);
    expect(reloaded.body.models).toBe(29);
    expect((await h.admin('GET', '/prices')).body.find((m: { id: string }) => m.id === 'claude-newest-1').rows[0].standard).toEqual({ input: '2', output: '10', cacheWrite5m: '2.5', cacheWrite1h: '4', cacheRead: '0.2' });
    // 1,000 in + 500 out at $2 / $10.
    expect(await cost()).toBe('0.007');
    // The same file, changed again: new requests at the new price, booked rows as they were.
    await writeFile(file, newModel(3, 15));
    expect((await h.admin('POST', '/prices/diff', { name: 'extra.json', content: newModel(3, 15) })).body.changes).toEqual([
      '~ claude-newest-1 from the start: batch.cacheRead 0.1 → 0.15, batch.cacheWrite1h 2 → 3, batch.cacheWrite5m 1.25 → 1.875, batch.input 1 → 1.5, batch.output 5 → 7.5, standard.cacheRead 0.2 → 0.3, standard.cacheWrite1h 4 → 6, standard.cacheWrite5m 2.5 → 3.75, standard.input 2 → 3, standard.output 10 → 15',
    ]);
    await h.admin('POST', '/prices/reload');
    expect(await cost()).toBe('0.0105');
    await until(async () => (await logs()).length === 3);
    expect((await logs()).map((r) => [r.unpriced, r.spend_exact])).toEqual([[true, '0'], [false, '0.007'], [false, '0.0105']]);
    const repriced = await h.admin('POST', '/spend/reprice', { model: 'claude-newest-1' });
    expect(repriced.body).toEqual({ repriced: 1, still_unpriced: 0, added_spend: '0.0105' });
    expect((await logs()).map((r) => r.spend_exact)).toEqual(['0.0105', '0.007', '0.0105']);
  });

  it('refuses a bad update whole, naming the problem, and keeps the prices in force', async () => {
    await writeFile(file, JSON.stringify({ models: { 'claude-newest-1': { prices: [{ input: 'cheap', output: 15 }] } } }));
    const refused = await h.admin('POST', '/prices/reload');
    expect(refused.status).toBe(500);
    expect(refused.body.error.message).toBe(
      `price update refused, the prices in force stay as they were: invalid price data:\n  - ${file}: /models/claude-newest-1/prices/0/input: "cheap" is not a USD amount (up to 12 decimals)\n  - ${file}: /models/claude-newest-1/prices/0: missing "cache_write_5m"\n  - ${file}: /models/claude-newest-1/prices/0: missing "cache_write_1h"\n  - ${file}: /models/claude-newest-1/prices/0: missing "cache_read"\n  - ${file}: /models/claude-newest-1/prices/0: missing "batch_input"\n  - ${file}: /models/claude-newest-1/prices/0: missing "batch_output"`,
    );
    expect(await cost()).toBe('0.0105');
    await writeFile(file, JSON.stringify({ models: {} }));
  });

  it('reads the price URL (its query never in a message) and reloads on SIGHUP', async () => {
    served = '{ not json';
    const refused = await h.admin('POST', '/prices/reload');
    expect(refused.body.error.message).toMatch(/^price update refused, the prices in force stay as they were: http:\/\/127\.0\.0\.1:\d+\/prices\.json: not valid JSON: /);
    expect(refused.body.error.message).not.toContain('s3cret');
    served = newModel(4, 20);
    process.emit('SIGHUP', 'SIGHUP');
    await until(async () => (await cost()) === '0.014');
  });
});
