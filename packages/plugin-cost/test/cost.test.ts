import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { BATCH_RESULTS_CONTENT_TYPE, createMockUpstream, errorEvent, messageJson, messageStreamEvents, rawRequest, type MockUpstream } from '@tollgate/testing';
import { MASTER_KEY, startCostHarness, UPSTREAM_KEY, until, type CostHarness } from './harness.js';

const PICO = 1_000_000n; // pico-dollars per token for $1 per million tokens
const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hi' }] };

function message(model: string, usage: Record<string, unknown>) {
  return { id: 'msg_fixed', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'x' }], stop_reason: 'end_turn', stop_sequence: null, usage };
}

/** The world of a describe block: a cost harness on `driver` with one virtual key, made before its tests and closed after. */
interface KeyedHarness {
  storage: Storage;
  h: CostHarness;
  key: string;
  token: string;
  sdk: Anthropic;
}

function keyedHarness(driver: (typeof DRIVERS)[number], keyFields: Record<string, unknown>, costConfig: Record<string, unknown> = {}): KeyedHarness {
  const t = {} as KeyedHarness;
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(driver);
    t.h = await startCostHarness({ db, costConfig });
    t.storage = await db.open();
    ({ key: t.key, token: t.token } = (await t.h.admin('POST', '/key/generate', keyFields)).body);
    t.sdk = new Anthropic({ apiKey: t.key, baseURL: t.h.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await t.h.close();
    await t.storage.close();
    await db.drop();
  });
  afterEach(() => t.h.mock.reset());
  return t;
}

describe.each(DRIVERS)('cost accounting on %s', (driver) => {
  let storage: Storage;
  let h: CostHarness;
  let key: string;
  let token: string;
  let sdk: Anthropic;
  const world = keyedHarness(driver, { key_alias: 'billing', user_id: 'ann', team_id: 'search' });
  beforeAll(() => void ({ storage, h, key, token, sdk } = world));

  /** The ledger row of the last completed request (waits for the writer). */
  async function lastRow(): Promise<Record<string, any>> {
    await until(() => h.completed.length > 0);
    const id = h.completed.at(-1)!.id;
    let row: Record<string, any> | undefined;
    await until(async () => {
      row = (await sql<Record<string, any>>`select *, cast(spend as text) as spend_text from tollgate_spend_logs where request_id = ${id}`.execute(storage.db)).rows[0];
      return row !== undefined;
    });
    return row!;
  }

  async function costOf(reply: unknown, params: Record<string, unknown> = PARAMS): Promise<{ header: string | null; spend: bigint; row: Record<string, any> }> {
    h.mock.once('POST', '/v1/messages', { json: reply });
    const before = h.completed.length;
    const { response } = await sdk.messages.create(params as never).withResponse();
    await until(() => h.completed.length > before);
    const row = await lastRow();
    return { header: response.headers.get('x-tollgate-response-cost'), spend: BigInt(row.spend_text), row };
  }

  it('plain: input and output at list price, in the header and the ledger', async () => {
    const { header, spend, row } = await costOf(message('claude-haiku-4-5', { input_tokens: 1000, output_tokens: 500 }));
    expect(spend).toBe(1000n * 1n * PICO + 500n * 5n * PICO);
    expect(header).toBe('0.0035');
    expect(row).toMatchObject({ call_type: 'messages', model: 'claude-haiku-4-5', api_key: token, key_alias: 'billing', user_id: 'ann', team_id: 'search', status: 200, prompt_tokens: 1000, completion_tokens: 500, message_id: 'msg_fixed' });
    expect(Number(row.unpriced)).toBe(0);
  });

  it('cached: 5m and 1h writes and reads each at their own rate', async () => {
    const usage = { input_tokens: 100, output_tokens: 200, cache_read_input_tokens: 3000, cache_creation_input_tokens: 1000, cache_creation: { ephemeral_5m_input_tokens: 400, ephemeral_1h_input_tokens: 600 } };
    const { header, spend, row } = await costOf(message('claude-haiku-4-5', usage));
    // $1 input, $5 output, $0.10 read, $1.25 5m write, $2 1h write per MTok
    expect(spend).toBe(100n * PICO + 200n * 5n * PICO + 3000n * 100_000n + 400n * 1_250_000n + 600n * 2n * PICO);
    expect(header).toBe('0.0031');
    expect(row).toMatchObject({ prompt_tokens: 4100, cache_read_input_tokens: 3000, cache_creation_input_tokens: 1000, cache_creation_5m_tokens: 400, cache_creation_1h_tokens: 600 });
  });

  it('long context: above 200k prompt tokens the whole request is billed at the higher rates', async () => {
    const params = { ...PARAMS, model: 'claude-sonnet-4-5' };
    const below = await costOf(message('claude-sonnet-4-5', { input_tokens: 150_000, cache_read_input_tokens: 50_000, output_tokens: 1000 }), params);
    expect(below.spend).toBe(150_000n * 3n * PICO + 50_000n * 300_000n + 1000n * 15n * PICO);
    const above = await costOf(message('claude-sonnet-4-5', { input_tokens: 150_000, cache_read_input_tokens: 50_001, output_tokens: 1000 }), params);
    expect(above.spend).toBe(150_000n * 6n * PICO + 50_001n * 600_000n + 1000n * 22_500_000n);
  });

  it('web search at $10 per 1,000 requests, and the inference_geo multiplier', async () => {
    const web = await costOf(message('claude-haiku-4-5', { input_tokens: 1000, output_tokens: 500, server_tool_use: { web_search_requests: 3 } }));
    expect(web.spend).toBe(3_500_000_000n + 3n * 10_000_000_000n);
    expect(web.row.web_search_requests).toBe(3);
    const geo = await costOf(message('claude-opus-4-6', { input_tokens: 1000, output_tokens: 100, inference_geo: 'us' }), { ...PARAMS, model: 'claude-opus-4-6' });
    expect(geo.spend).toBe(1000n * 5_500_000n + 100n * 27_500_000n);
    expect(geo.header).toBe('0.00825');
  });

  it('an unpriced model is recorded as unpriced with its tokens, never as $0 billed, and warned once', async () => {
    const params = { ...PARAMS, model: 'claude-unknown-9' };
    const first = await costOf(message('claude-unknown-9', { input_tokens: 10, output_tokens: 20 }), params);
    await costOf(message('claude-unknown-9', { input_tokens: 10, output_tokens: 20 }), params);
    expect(first.header).toBeNull();
    expect([first.spend, Number(first.row.unpriced), first.row.prompt_tokens, first.row.completion_tokens]).toEqual([0n, 1, 10, 20]);
    expect(h.logs.filter((l) => l.includes('"model":"claude-unknown-9"') && l.includes('unpriced'))).toHaveLength(1);
  });

  it('a message that succeeded without usage the gateway could read is unpriced, never $0 (JSON without usage, a cut body, a stream, an unreadable message_start), and reprice leaves it so', async () => {
    const json = await costOf({ id: 'msg_bare', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [], stop_reason: 'end_turn', stop_sequence: null });
    expect(json.header).toBeNull();
    const ids = [json.row.request_id];
    const send = async (reply: Parameters<typeof h.mock.once>[2], body: Record<string, unknown>) => {
      h.mock.once('POST', '/v1/messages', reply);
      const before = h.completed.length;
      const res = await rawRequest(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      await until(() => h.completed.length > before);
      ids.push((await lastRow()).request_id);
    };
    await send({ headers: { 'content-type': 'application/json' }, body: '{"id":"msg_cut","usage":{"input_tokens":' }, PARAMS);
    const start = { type: 'message_start', message: { id: 'msg_s', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [] } };
    await send({ sse: [{ event: 'message_start', data: start }, { event: 'message_stop', data: { type: 'message_stop' } }] }, { ...PARAMS, stream: true });
    // A message_start that cannot be read: the output count that follows is not the whole usage.
    const delta = { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 50 } };
    await send({ headers: { 'content-type': 'text/event-stream' }, chunks: ['event: message_start\ndata: {not json}\n\n', `event: message_delta\ndata: ${JSON.stringify(delta)}\n\n`] }, { ...PARAMS, stream: true });
    const rows = async () =>
      (await sql<Record<string, any>>`select request_id, cast(spend as text) as spend_text, unpriced, prompt_tokens from tollgate_spend_logs where request_id in (${sql.join(ids)}) order by start_time`.execute(storage.db)).rows.map((r) => [r.spend_text, Number(r.unpriced), Number(r.prompt_tokens)]);
    const unknown = [['0', 1, 0], ['0', 1, 0], ['0', 1, 0], ['0', 1, 0]];
    expect(await rows()).toEqual(unknown);
    expect(h.logs.filter((l) => l.includes('carried no usage'))).toHaveLength(1);
    const repriced = await h.admin('POST', '/spend/reprice', { model: 'claude-haiku-4-5' });
    expect(repriced.body).toMatchObject({ repriced: 0, still_unpriced: 4 });
    expect(await rows()).toEqual(unknown);
  });

  it('usage whose counts are not whole numbers is unreadable: the row is still booked, unpriced with no tokens, for JSON and streams', async () => {
    const bad = [{ input_tokens: 1.5, output_tokens: 2 }, { input_tokens: -5, output_tokens: 2 }, { input_tokens: 1e20, output_tokens: 2 }, { input_tokens: '10', output_tokens: 2 }];
    for (const usage of bad) {
      for (const stream of [false, true]) {
        const start = { type: 'message_start', message: { id: 'msg_bad', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [], usage } };
        h.mock.once('POST', '/v1/messages', stream ? { sse: [{ event: 'message_start', data: start }, { event: 'message_stop', data: { type: 'message_stop' } }] } : { json: message('claude-haiku-4-5', usage) });
        const before = h.completed.length;
        const res = await rawRequest(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify({ ...PARAMS, stream }) });
        expect([res.status, res.headers['x-tollgate-response-cost']]).toEqual([200, undefined]);
        await until(() => h.completed.length > before);
        const row = await lastRow();
        expect([row.spend_text, Number(row.unpriced), Number(row.input_tokens), Number(row.output_tokens), Number(row.stream)]).toEqual(['0', 1, 0, 0, stream ? 1 : 0]);
      }
    }
    expect(h.logs.filter((l) => l.includes('"plugin":"cost"') && l.includes('"level":50'))).toEqual([]);
  });

  it('an end user, tag or model with a NUL character is booked with U+FFFD in its place, and the ledger carries on', async () => {
    h.mock.route('POST', '/v1/messages', { json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 10 } }) });
    await sdk.messages.create({ ...PARAMS, litellm_metadata: { user: 'nul\0user', tags: ['t\0g', 'plain'] } } as never);
    expect(await lastRow()).toMatchObject({ end_user: 'nul\uFFFDuser', request_tags: '["t\uFFFDg","plain"]', spend_text: '60000000' });
    await sdk.messages.create({ ...PARAMS, metadata: { user_id: 'next' } });
    expect(await lastRow()).toMatchObject({ end_user: 'next' });
    expect((await h.admin('GET', '/spend/queue')).body).toMatchObject({ writeFailures: 0, rejected: 0, healthy: true });
  });

  it('a stream costs exactly what the same usage costs without streaming', async () => {
    h.mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ model: 'claude-haiku-4-5', text: ['a', 'b'], usage: { input_tokens: 1000, output_tokens: 500 } }) });
    const stream = await sdk.messages.create({ ...PARAMS, stream: true });
    for await (const _ of stream) void _;
    const row = await lastRow();
    expect(BigInt(row.spend_text)).toBe(3_500_000_000n);
    expect(Number(row.stream)).toBe(1);
  });

  it('an aborted stream and a stream ending in an error are billed for the usage seen', async () => {
    const events = messageStreamEvents({ model: 'claude-haiku-4-5', text: ['a', 'b', 'c', 'd'], usage: { input_tokens: 1000, output_tokens: 500 } });
    h.mock.once('POST', '/v1/messages', { sse: events, eventDelayMs: 100 });
    const ac = new AbortController();
    const stream = await sdk.messages.create({ ...PARAMS, stream: true }, { signal: ac.signal });
    // The SDK may end the iteration quietly or throw on abort; either way the client is gone.
    await (async () => {
      for await (const ev of stream) if (ev.type === 'content_block_delta') ac.abort();
    })().catch(() => undefined);
    await until(() => h.completed.at(-1)?.aborted === true);
    const aborted = await lastRow();
    expect([BigInt(aborted.spend_text), Number(aborted.aborted)]).toEqual([1000n * PICO + 1n * 5n * PICO, 1]);

    h.mock.once('POST', '/v1/messages', { sse: [...events.slice(0, 4), errorEvent('overloaded_error', 'Overloaded')] });
    const failing = await sdk.messages.create({ ...PARAMS, stream: true });
    await expect((async () => { for await (const _ of failing) void _; })()).rejects.toThrow();
    const errored = await lastRow();
    expect(BigInt(errored.spend_text)).toBe(1000n * PICO + 5n * PICO);
  });

  it('count_tokens, models and relayed errors are recorded at zero with their own call type and status', async () => {
    await sdk.messages.countTokens({ model: 'claude-haiku-4-5', messages: PARAMS.messages });
    expect(await lastRow()).toMatchObject({ call_type: 'count_tokens', status: 200, spend_text: '0' });
    await sdk.models.list();
    expect(await lastRow()).toMatchObject({ call_type: 'models', spend_text: '0' });
    h.mock.once('POST', '/v1/messages', { status: 429, json: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } } });
    await expect(sdk.messages.create(PARAMS)).rejects.toThrow();
    expect(await lastRow()).toMatchObject({ call_type: 'messages', status: 429, spend_text: '0' });
  });

  it('attributes to end user and tags from litellm_metadata, else metadata.user_id', async () => {
    h.mock.route('POST', '/v1/messages', { json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 10 } }) });
    await sdk.messages.create({ ...PARAMS, metadata: { user_id: 'anthropic-user' }, litellm_metadata: { tags: ['exp', 'nightly'], user: 'lite-user' } } as never);
    const tagged = await lastRow();
    expect([tagged.end_user, JSON.parse(tagged.request_tags)]).toEqual(['lite-user', ['exp', 'nightly']]);
    const tags = (await sql<{ tag: string }>`select tag from tollgate_spend_tags where request_id = ${tagged.request_id} order by tag`.execute(storage.db)).rows;
    expect(tags.map((t) => t.tag)).toEqual(['exp', 'nightly']);
    await sdk.messages.create({ ...PARAMS, metadata: { user_id: 'anthropic-user' } });
    expect((await lastRow()).end_user).toBe('anthropic-user');
  });

  it('a budget stops the next request after it is exceeded, streams included', async () => {
    const budgeted = (await h.admin('POST', '/key/generate', { max_budget: 0.007 })).body;
    const c = new Anthropic({ apiKey: budgeted.key, baseURL: h.baseURL, maxRetries: 0 });
    h.mock.route('POST', '/v1/messages', { json: message('claude-haiku-4-5', { input_tokens: 1000, output_tokens: 500 }) });
    await c.messages.create(PARAMS);
    h.mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ model: 'claude-haiku-4-5', usage: { input_tokens: 1000, output_tokens: 500 } }) });
    for await (const _ of await c.messages.create({ ...PARAMS, stream: true })) void _;
    await until(() => h.completed.length > 0 && h.completed.at(-1)!.principal?.keyHash === budgeted.token);
    const err = await c.messages.create(PARAMS).catch((e: APIError) => e);
    expect((err as APIError).status).toBe(429);
    expect(((err as APIError).error as any).error.message).toBe('budget exceeded for this key: spent $0.007 of its $0.007 budget (it does not reset)');
    // Waiting cannot help: SDKs (Claude Code's among them) must not retry.
    expect([(err as APIError).headers?.get('x-should-retry'), (err as APIError).headers?.get('retry-after')]).toEqual(['false', null]);
    expect((await h.admin('GET', `/key/info?key=${budgeted.token}`)).body.info.spend).toBe(0.007);
  });

  it('with the settlement job off, books nothing for batch results fetched straight from Anthropic, until they are fetched through the gateway', async () => {
    const before = h.completed.length;
    const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'direct-1', params: PARAMS }] } as never);
    const direct = await rawRequest(`${h.mock.url}/v1/messages/batches/${batch.id}/results`);
    expect(direct.status).toBe(200);
    const booked = async () =>
      Number((await sql<{ n: number }>`select count(*) as n from tollgate_spend_logs where batch_id = ${batch.id} and call_type = 'batch_result'`.execute(storage.db)).rows[0].n);
    await h.committed(before + 1);
    expect(await booked()).toBe(0);
    for await (const _ of await sdk.messages.batches.results(batch.id)) void _;
    await until(async () => (await booked()) === 1);
  });

  it('settles batches on demand (POST /spend/batches/settle) with the background job off, for admins only', async () => {
    const before = h.completed.length;
    const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'on-demand', params: PARAMS }, { custom_id: 'err-x', params: PARAMS }] } as never);
    // The job finds batches through their create call's ledger row.
    await until(async () => (await sql<{ n: number }>`select count(*) as n from tollgate_spend_logs where batch_id = ${batch.id}`.execute(storage.db)).rows[0]!.n > 0);
    const denied = await fetch(`${h.url}/spend/batches/settle`, { method: 'POST', headers: { 'x-api-key': key } });
    expect(denied.status).toBe(401);
    const first = await h.admin('POST', '/spend/batches/settle');
    // Earlier tests' batches (their results already fetched through the gateway) settle too, booking nothing.
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ booked: 1, failed: 0, settled: first.body.checked });
    expect(first.body.checked).toBeGreaterThanOrEqual(1);
    const again = await h.admin('POST', '/spend/batches/settle');
    expect(again.body).toEqual({ checked: 0, settled: 0, booked: 0, failed: 0 });
    // The settle run queued the result's row before it answered.
    await h.committed(before + 1);
    const rows = (await sql<{ request_id: string }>`select request_id from tollgate_spend_logs where batch_id = ${batch.id} and call_type = 'batch_result'`.execute(storage.db)).rows;
    expect(rows).toEqual([{ request_id: `${batch.id}:on-demand` }]);
  });

  it('books succeeded batch results at batch rates to the creator, once however often they are fetched', async () => {
    const batch = await sdk.messages.batches.create({
      requests: [
        { custom_id: 'one', params: PARAMS },
        { custom_id: 'two', params: { ...PARAMS, messages: [{ role: 'user', content: 'a longer prompt here' }] } },
        { custom_id: 'err-three', params: PARAMS },
      ],
    } as never);
    const lines: { custom_id: string; result: { type: string; message?: { usage: { input_tokens: number; output_tokens: number } } } }[] = [];
    for await (const r of await sdk.messages.batches.results(batch.id)) lines.push(r as never);
    for await (const _ of await sdk.messages.batches.results(batch.id)) void _;
    const succeeded = lines.filter((l) => l.result.type === 'succeeded');
    expect(succeeded).toHaveLength(2);
    const expected = succeeded.reduce((sum, l) => sum + BigInt(l.result.message!.usage.input_tokens) * 500_000n + BigInt(l.result.message!.usage.output_tokens) * 2_500_000n, 0n);
    let rows: Record<string, any>[] = [];
    await until(async () => {
      rows = (await sql<Record<string, any>>`select request_id, api_key, call_type, cast(spend as text) as spend_text from tollgate_spend_logs where batch_id = ${batch.id} and call_type = 'batch_result' order by request_id`.execute(storage.db)).rows;
      return rows.length === 2;
    });
    expect(rows.map((r) => [r.request_id, r.api_key])).toEqual([[`${batch.id}:one`, token], [`${batch.id}:two`, token]]);
    expect(rows.reduce((s, r) => s + BigInt(r.spend_text), 0n)).toBe(expected);
  });
});

describe.each(DRIVERS)('batch creators on %s', (driver) => {
  it('survive a database outage at create: the create succeeds, and results fetched after a restart are booked to the creator', async () => {
    const db = await createTestDatabase(driver);
    const mock = await createMockUpstream();
    const spoolFile = join(await mkdtemp(join(tmpdir(), 'tg-batch-')), 'spool.jsonl');
    const costConfig = { ledger: { flushIntervalMs: 20, maxRetryMs: 50, spoolFile } };
    let h = await startCostHarness({ db, mock, costConfig });
    const storage = await db.open();
    try {
      const { key, token } = (await h.admin('POST', '/key/generate', { key_alias: 'batcher', user_id: 'bea' })).body;
      const sdk = () => new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
      // The outage: the ledger's tables are gone (keys still resolve, so the call is admitted).
      await sql`alter table tollgate_spend_logs rename to tollgate_spend_logs_away`.execute(storage.db);
      await sql`alter table tollgate_batches rename to tollgate_batches_away`.execute(storage.db);
      const batch = await sdk().messages.batches.create({
        requests: [
          { custom_id: 'one', params: PARAMS },
          { custom_id: 'err-two', params: PARAMS },
        ],
      } as never);
      expect(batch.id).toMatch(/^msgbatch_/);
      await h.close();
      await sql`alter table tollgate_spend_logs_away rename to tollgate_spend_logs`.execute(storage.db);
      await sql`alter table tollgate_batches_away rename to tollgate_batches`.execute(storage.db);

      h = await startCostHarness({ db, mock, costConfig });
      const lines: { custom_id: string; result: { type: string; message?: { usage: { input_tokens: number; output_tokens: number } } } }[] = [];
      for await (const r of await sdk().messages.batches.results(batch.id)) lines.push(r as never);
      const one = lines.find((l) => l.custom_id === 'one')!.result.message!.usage;
      let rows: Record<string, any>[] = [];
      await until(async () => {
        rows = (await sql<Record<string, any>>`select request_id, api_key, user_id, cast(spend as text) as spend_text from tollgate_spend_logs where batch_id = ${batch.id} and call_type = 'batch_result'`.execute(storage.db)).rows;
        return rows.length > 0;
      });
      expect(rows).toEqual([{ request_id: `${batch.id}:one`, api_key: token, user_id: 'bea', spend_text: String(BigInt(one.input_tokens) * 500_000n + BigInt(one.output_tokens) * 2_500_000n) }]);
    } finally {
      await h.close();
      await mock.close();
      await storage.close();
      await db.drop();
    }
  });
});

describe.each(DRIVERS)('the batch settlement job on %s', (driver) => {
  type ResultLine = { custom_id: string; result: { type: string; message?: { usage: { input_tokens: number; output_tokens: number } } } };
  let storage: Storage;
  let h: CostHarness;
  let key: string;
  let token: string;
  let sdk: Anthropic;
  const world = keyedHarness(driver, { key_alias: 'nightly', user_id: 'nia', team_id: 'etl' }, { batches: { settleEveryMs: 100 } });
  beforeAll(() => void ({ storage, h, key, token, sdk } = world));

  const resultRows = async (batchId: string) =>
    (await sql<Record<string, any>>`select request_id, api_key, user_id, team_id, cast(spend as text) as spend_text from tollgate_spend_logs where batch_id = ${batchId} and call_type = 'batch_result' order by request_id`.execute(storage.db)).rows;
  const mark = async (batchId: string) =>
    (await sql<Record<string, any>>`select outcome, results_booked from tollgate_batch_settlements where batch_id = ${batchId}`.execute(storage.db)).rows[0];
  /** The job's own calls about a batch (a client's SDK asks for the batch too, before its results). */
  const asksAbout = (batchId: string) =>
    h.mock.requests.filter((r) => r.method === 'GET' && r.path === `/v1/messages/batches/${batchId}` && r.headers['user-agent'] === 'tollgate-batch-settlement');

  it('books a batch nobody fetched once it has ended, to its creator at batch rates, and never again when it is fetched later', async () => {
    h.mock.batches.holdNew = true;
    const batch = await sdk.messages.batches.create({
      requests: [
        { custom_id: 'one', params: PARAMS },
        { custom_id: 'two', params: { ...PARAMS, messages: [{ role: 'user', content: 'a longer prompt for the second one' }] } },
        { custom_id: 'err-three', params: PARAMS },
      ],
    } as never);
    // In progress: the job asks (with the gateway's own key, never the client's), books nothing, and asks again.
    await until(() => asksAbout(batch.id).length >= 2, 5000);
    for (const r of asksAbout(batch.id)) {
      expect(r.headers['x-api-key']).toBe(UPSTREAM_KEY);
      expect(r.headers['anthropic-version']).toBe('2023-06-01');
      expect(r.headers.authorization).toBeUndefined();
    }
    expect(await resultRows(batch.id)).toEqual([]);
    expect(await mark(batch.id)).toBeUndefined();

    h.mock.batches.end(batch.id);
    const lines = ((await (await fetch(`${h.mock.url}/v1/messages/batches/${batch.id}/results`)).text()).trim().split('\n').map((l) => JSON.parse(l))) as ResultLine[];
    const priceOf = (l: ResultLine) => BigInt(l.result.message!.usage.input_tokens) * 500_000n + BigInt(l.result.message!.usage.output_tokens) * 2_500_000n;
    const [one, two] = lines.filter((l) => l.result.type === 'succeeded');
    await until(async () => (await mark(batch.id)) !== undefined, 5000);
    expect(await mark(batch.id)).toEqual({ outcome: 'ended', results_booked: 2 });
    expect(await resultRows(batch.id)).toEqual([
      { request_id: `${batch.id}:one`, api_key: token, user_id: 'nia', team_id: 'etl', spend_text: String(priceOf(one!)) },
      { request_id: `${batch.id}:two`, api_key: token, user_id: 'nia', team_id: 'etl', spend_text: String(priceOf(two!)) },
    ]);
    const expected = priceOf(one!) + priceOf(two!);
    const keySpend = async () => (await h.admin('GET', `/key/info?key=${token}`)).body.info.spend;
    expect(await keySpend()).toBe(Number(expected) / 1e12);

    // Settled: the job stops asking, and a client's fetch through the gateway books nothing more.
    const asked = asksAbout(batch.id).length;
    const before = h.completed.length;
    for await (const _ of await sdk.messages.batches.results(batch.id)) void _;
    await new Promise((r) => setTimeout(r, 400));
    expect(asksAbout(batch.id)).toHaveLength(asked);
    // The SDK asked for the batch, then its results: two requests.
    await h.committed(before + 2);
    expect(await resultRows(batch.id)).toHaveLength(2);
    expect(await keySpend()).toBe(Number(expected) / 1e12);
  });

  it('books nothing twice for a batch whose results a client fetched first', async () => {
    const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'early', params: PARAMS }] } as never);
    for await (const _ of await sdk.messages.batches.results(batch.id)) void _;
    await until(async () => (await mark(batch.id)) !== undefined, 5000);
    expect(await mark(batch.id)).toEqual({ outcome: 'ended', results_booked: 0 });
    expect((await resultRows(batch.id)).map((r) => r.request_id)).toEqual([`${batch.id}:early`]);
  });

  it('marks a batch the upstream no longer has as gone, booking nothing', async () => {
    const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'lost', params: PARAMS }] } as never);
    // Deleted upstream before the job saw it (the create row reaches the ledger only after its flush interval).
    h.mock.batches.delete(batch.id);
    await until(async () => (await mark(batch.id)) !== undefined, 5000);
    expect(await mark(batch.id)).toEqual({ outcome: 'gone', results_booked: 0 });
    expect(await resultRows(batch.id)).toEqual([]);
  });

  it('retries a batch the upstream failed on, and logs no secret', async () => {
    const path = new RegExp(`^/v1/messages/batches/msgbatch_[0-9a-f]+/results$`);
    h.mock.once('GET', path, { status: 529, json: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'retry', params: PARAMS }] } as never);
    await until(async () => (await mark(batch.id)) !== undefined, 5000);
    expect(await mark(batch.id)).toEqual({ outcome: 'ended', results_booked: 1 });
    expect(await resultRows(batch.id)).toHaveLength(1);
    const failure = h.logs.find((l) => l.includes('could not settle a batch'));
    expect(failure).toContain('upstream answered 529 (overloaded_error)');
    expect(failure).toContain(batch.id);
    for (const secret of [UPSTREAM_KEY, MASTER_KEY, key]) expect(h.logs.join('\n')).not.toContain(secret);
  });
});

/** Two gateways on one PostgreSQL database and one mock upstream, closed (and the database dropped) after `run`. */
async function withPostgresReplicas(costConfig: Record<string, unknown>, run: (a: CostHarness, b: CostHarness, mock: MockUpstream) => Promise<void>): Promise<void> {
  const db = await createTestDatabase('postgres');
  const mock = await createMockUpstream();
  const a = await startCostHarness({ db, mock, costConfig });
  const b = await startCostHarness({ db, mock, costConfig });
  try {
    await run(a, b, mock);
  } finally {
    await a.close();
    await b.close();
    await mock.close();
    await db.drop();
  }
}

describe('replicas sharing PostgreSQL', () => {
  it("a replica refuses a key whose budget the other replica's requests used up", async () => {
    await withPostgresReplicas({ sharedSpend: { syncMs: 50 } }, async (a, b, mock) => {
      // $1 + $5 per MTok: $0.007 a request; the budget is $0.010.
      mock.route('POST', '/v1/messages', { json: message('claude-haiku-4-5', { input_tokens: 2000, output_tokens: 1000 }) });
      const { key, token } = (await a.admin('POST', '/key/generate', { max_budget: 0.01 })).body;
      const on = (h: CostHarness) => new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
      await on(b).messages.create(PARAMS);
      await on(a).messages.create(PARAMS);
      // $0.014 is booked in all: $0.007 by each. B alone counts $0.007, under the budget.
      const spendOnB = async () => (await b.admin('GET', `/key/info?key=${token}`)).body.info.spend;
      await until(async () => (await spendOnB()) === 0.014, 5000);
      const err = await on(b).messages.create(PARAMS).catch((e: APIError) => e);
      expect((err as APIError).status).toBe(429);
      expect(((err as APIError).error as any).error.message).toBe('budget exceeded for this key: spent $0.014 of its $0.01 budget (it does not reset)');
      expect(mock.requests.filter((r) => r.path === '/v1/messages')).toHaveLength(2);
    });
  });

  it('/customer/info on one replica counts the spend the other replica booked', async () => {
    await withPostgresReplicas({}, async (a, b, mock) => {
      // $1 + $5 per MTok: $0.007 a request.
      mock.route('POST', '/v1/messages', { json: message('claude-haiku-4-5', { input_tokens: 2000, output_tokens: 1000 }) });
      const { key } = (await a.admin('POST', '/key/generate', {})).body;
      const on = (h: CostHarness) => new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
      const params = { ...PARAMS, metadata: { user_id: 'customer-across' } };
      await on(a).messages.create(params);
      await on(a).messages.create(params);
      await on(b).messages.create(params);
      await a.committed(2);
      await b.committed(1);
      for (const h of [a, b]) {
        expect((await h.admin('GET', '/customer/info?end_user_id=customer-across')).body).toMatchObject({ spend_exact: '0.021', request_count: 3 });
      }
    });
  });
});

describe('the batch settlement job on replicas sharing PostgreSQL', () => {
  it('runs on one replica at a time: the other skips its run, so no replica counts results another booked', async () => {
    await withPostgresReplicas({ batches: { settleEveryMs: 0 } }, async (a, b, mock) => {
      const { key } = (await a.admin('POST', '/key/generate', { user_id: 'uma' })).body;
      const sdk = new Anthropic({ apiKey: key, baseURL: a.baseURL, maxRetries: 0 });
      const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'x', params: PARAMS }, { custom_id: 'y', params: PARAMS }] } as never);
      // The create row is in the database both replicas read.
      await a.committed(1);
      // Slow results, so the two runs overlap.
      mock.route('GET', `/v1/messages/batches/${batch.id}/results`, { headers: { 'content-type': BATCH_RESULTS_CONTENT_TYPE }, body: mock.batches.results(batch.id)!, delayMs: 500 });
      const runs = (await Promise.all([a, b].map((h) => h.admin('POST', '/spend/batches/settle')))).map((r) => r.body);
      expect(runs).toContainEqual({ checked: 1, settled: 1, booked: 2, failed: 0 });
      expect(runs).toContainEqual({ checked: 0, settled: 0, booked: 0, failed: 0, skipped: true });
      // The lock is released: a later run on either replica finds nothing left to settle.
      for (const h of [b, a]) expect((await h.admin('POST', '/spend/batches/settle')).body).toEqual({ checked: 0, settled: 0, booked: 0, failed: 0 });
    });
  });
});

describe('repricing', () => {
  it('prices unpriced rows once a price exists, at their own request time, and counts them in the totals', async () => {
    const db = await createTestDatabase('sqlite');
    let h = await startCostHarness({ db });
    const { key, token } = (await h.admin('POST', '/key/generate', {})).body;
    const c = () => new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
    h.mock.route('POST', '/v1/messages', { json: message('claude-private-1', { input_tokens: 2000, output_tokens: 100 }) });
    await c().messages.create({ ...PARAMS, model: 'claude-private-1' });
    await h.committed(1);
    await h.close();
    const negotiated = { 'claude-private-1': { prices: [{ input: 2, output: 8, cache_write_5m: 2.5, cache_write_1h: 4, cache_read: 0.2, batch_input: 1, batch_output: 4 }] } };
    h = await startCostHarness({ db, costConfig: { prices: { models: negotiated } } });
    try {
      expect((await h.admin('GET', `/key/info?key=${token}`)).body.info.spend).toBe(0);
      const res = await h.admin('POST', '/spend/reprice', { model: 'claude-private-1' });
      expect(res.body).toEqual({ repriced: 1, still_unpriced: 0, added_spend: '0.0048' });
      expect((await h.admin('GET', `/key/info?key=${token}`)).body.info.spend).toBe(0.0048);
      expect((await h.admin('POST', '/spend/reprice', {})).body).toEqual({ repriced: 0, still_unpriced: 0, added_spend: '0' });
    } finally {
      await h.close();
      await db.drop();
    }
  });
});
