import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { picoToNumber } from '@tollgate/core';
import { errorReply, messageJson, messageStreamEvents, rawRequest, serializeSseEvents } from '@tollgate/testing';
import type { Exposition } from './exposition.js';
import { MASTER_KEY, startHarness, until, type Harness } from './harness.js';

const HAIKU = 'claude-haiku-4-5';
const PARAMS = { model: HAIKU, max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hi' }] };
/** Pico-dollars per token at $1 per million tokens. */
const PER_MTOK = 1_000_000n;

describe('metrics after scripted traffic', () => {
  let h: Harness;
  let search: Anthropic;
  let ops: Anthropic;
  let searchHash: string;
  let opsHash: string;
  let m: Exposition;
  const who = () => ({ key_hash: searchHash.slice(0, 12), key_alias: 'search-app', user: 'ann', team: 'search' });

  beforeAll(async () => {
    h = await startHarness();
    const a = (await h.admin('POST', '/key/generate', { key_alias: 'search-app', user_id: 'ann', team_id: 'search', max_budget: 10, rpm_limit: 100, tpm_limit: 10_000_000 })).body;
    const b = (await h.admin('POST', '/key/generate', { key_alias: 'ops-app', team_id: 'ops' })).body;
    [searchHash, opsHash] = [a.token, b.token];
    search = new Anthropic({ apiKey: a.key, baseURL: h.baseURL, maxRetries: 0 });
    ops = new Anthropic({ apiKey: b.key, baseURL: h.baseURL, maxRetries: 0 });

    // 1. A message for end user eu-1 (metadata.user_id): $0.0035.
    h.mock.once('POST', '/v1/messages', { json: messageJson({ model: HAIKU, usage: { input_tokens: 1000, output_tokens: 500 } }) });
    await search.messages.create({ ...PARAMS, metadata: { user_id: 'eu-1' } });
    // 2. A stream for end user eu-2 (litellm_metadata.user) with cache reads and both cache writes: $0.0045.
    const usage = { input_tokens: 2000, output_tokens: 100, cache_read_input_tokens: 3000, cache_creation_input_tokens: 1000, cache_creation: { ephemeral_5m_input_tokens: 400, ephemeral_1h_input_tokens: 600 } };
    h.mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ model: HAIKU, text: ['a', 'b'], usage }) });
    const stream = await search.messages.create({ ...PARAMS, stream: true, litellm_metadata: { user: 'eu-2' } } as never);
    for await (const _ of stream as unknown as AsyncIterable<unknown>) void _;
    // 3 and 4. $0.1 and $0.2 for eu-3: the counter must show 0.3, not 0.30000000000000004.
    for (const output of [20_000, 40_000]) {
      h.mock.once('POST', '/v1/messages', { json: messageJson({ model: HAIKU, usage: { input_tokens: 0, output_tokens: output } }) });
      await search.messages.create({ ...PARAMS, metadata: { user_id: 'eu-3' } });
    }
    // 5. An upstream 429, relayed as it came.
    h.mock.once('POST', '/v1/messages', errorReply('rate_limit_error', 'slow down'));
    await expect(search.messages.create(PARAMS)).rejects.toMatchObject({ status: 429 });
    // 6. A model the price book does not know, on the other key.
    h.mock.once('POST', '/v1/messages', { json: messageJson({ model: 'claude-unknown-9', usage: { input_tokens: 10, output_tokens: 20 } }) });
    await ops.messages.create({ ...PARAMS, model: 'claude-unknown-9' });
    // 7. A bad key: refused by the gateway before any upstream call.
    const bad = await rawRequest(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'sk-wrong', 'content-type': 'application/json' }, body: JSON.stringify(PARAMS) });
    expect(bad.status).toBe(401);
    await h.completedAtLeast(7);
    m = await h.scrape();
  });
  afterAll(() => h.close());

  it('counts requests by route, status, stream flag, model, key, user, team and end user', () => {
    expect(m.sum('tollgate_requests_total')).toBe(7);
    const ok = { route: 'messages', status_code: '200', model: HAIKU, ...who() };
    expect(m.value('tollgate_requests_total', { ...ok, stream: 'false', end_user: 'eu-1' })).toBe(1);
    expect(m.value('tollgate_requests_total', { ...ok, stream: 'true', end_user: 'eu-2' })).toBe(1);
    expect(m.value('tollgate_requests_total', { ...ok, stream: 'false', end_user: 'eu-3' })).toBe(2);
    expect(m.value('tollgate_requests_total', { status_code: '429', ...who(), end_user: '' })).toBe(1);
    expect(m.value('tollgate_requests_total', { model: 'claude-unknown-9', key_hash: opsHash.slice(0, 12), key_alias: 'ops-app', user: '', team: 'ops' })).toBe(1);
    // Auth refused it before the metadata step read the model.
    expect(m.value('tollgate_requests_total', { status_code: '401', key_hash: '', key_alias: '', model: '' })).toBe(1);
  });

  it('counts failures by error type and code: upstream statuses and gateway errors', () => {
    expect(m.sum('tollgate_failed_requests_total')).toBe(2);
    expect(m.value('tollgate_failed_requests_total', { error_type: 'rate_limit_error', error_code: 'upstream', ...who() })).toBe(1);
    expect(m.value('tollgate_failed_requests_total', { error_type: 'authentication_error', error_code: 'TG_ERR_AUTH_INVALID_KEY', key_hash: '' })).toBe(1);
  });

  it('counts every token type exactly', () => {
    const t = (type: string, extra: Record<string, string> = {}) => m.sum('tollgate_tokens_total', { type, ...extra });
    expect([t('input'), t('output'), t('cache_read'), t('cache_write_5m'), t('cache_write_1h')]).toEqual([1000 + 2000 + 10, 500 + 100 + 20_000 + 40_000 + 20, 3000, 400, 600]);
    expect(m.value('tollgate_tokens_total', { type: 'cache_write_1h', end_user: 'eu-2', ...who() })).toBe(600);
    expect(m.value('tollgate_tokens_total', { type: 'output', model: 'claude-unknown-9' })).toBe(20);
  });

  it('sums spend exactly per series, in USD', () => {
    expect(m.value('tollgate_spend_usd_total', { end_user: 'eu-1', ...who() })).toBe(0.0035);
    expect(m.value('tollgate_spend_usd_total', { end_user: 'eu-2', ...who() })).toBe(0.0045);
    expect(m.value('tollgate_spend_usd_total', { end_user: 'eu-3', ...who() })).toBe(0.3);
    expect(m.find('tollgate_spend_usd_total')).toHaveLength(3);
    expect(m.types.get('tollgate_spend_usd_total')).toBe('counter');
  });

  it('counts unpriced requests', () => {
    expect(m.find('tollgate_unpriced_requests_total')).toEqual([
      { name: 'tollgate_unpriced_requests_total', labels: { model: 'claude-unknown-9', key_hash: opsHash.slice(0, 12), key_alias: 'ops-app', user: '', team: 'ops', end_user: '' }, value: 1 },
    ]);
  });

  it('observes durations: every request, upstream calls, first tokens of streams, gateway overhead', () => {
    expect(m.sum('tollgate_request_duration_seconds_count')).toBe(7);
    expect(m.sum('tollgate_upstream_duration_seconds_count')).toBe(6);
    expect(m.value('tollgate_time_to_first_token_seconds_count', who())).toBe(1);
    expect(m.sum('tollgate_gateway_overhead_seconds_count')).toBe(6);
    expect(m.find('tollgate_request_duration_seconds_count', { end_user: 'eu-1' })).toEqual([]);
    // Sub-millisecond buckets for the gateway's own time.
    expect(m.find('tollgate_gateway_overhead_seconds_bucket', { route: 'messages', stream: 'false' }).map((s) => s.labels.le).slice(0, 4)).toEqual(['0.00005', '0.0001', '0.00025', '0.0005']);
  });

  it('shows the budget left and the limits of each key that made requests', async () => {
    const spent = 3_500_000_000n + 4_500_000_000n + 300_000_000_000n;
    expect(spent).toBe(1000n * PER_MTOK + 500n * 5n * PER_MTOK + 4_500_000_000n + 60_000n * 5n * PER_MTOK);
    const labels = { key_hash: searchHash.slice(0, 12), key_alias: 'search-app' };
    expect(m.value('tollgate_key_remaining_budget_usd', labels)).toBe(picoToNumber(10n * 1_000_000_000_000n - spent));
    expect(m.value('tollgate_key_max_budget_usd', labels)).toBe(10);
    expect(m.value('tollgate_key_rpm_limit', labels)).toBe(100);
    expect(m.value('tollgate_key_tpm_limit', labels)).toBe(10_000_000);
    expect(m.find('tollgate_key_max_parallel_requests')).toEqual([]);
    // The other key has no budget and no limits: no series.
    expect(m.find('tollgate_key_max_budget_usd', { key_alias: 'ops-app' })).toEqual([]);
    // Spend booked after the key's last request shows at the next scrape.
    h.mock.once('POST', '/v1/messages', { json: messageJson({ model: HAIKU, usage: { input_tokens: 0, output_tokens: 200_000 } }) });
    await search.messages.create(PARAMS);
    await h.completedAtLeast(8);
    expect((await h.scrape()).value('tollgate_key_remaining_budget_usd', labels)).toBe(picoToNumber(10n * 1_000_000_000_000n - spent - 1_000_000_000_000n));
  });

  it("reports the spend ledger's write queue", async () => {
    await until(async () => (await h.scrape()).value('tollgate_spend_queue_depth', { queue: 'memory' }) === 0);
    const s = await h.scrape();
    expect([s.value('tollgate_spend_queue_depth', { queue: 'spool' }), s.value('tollgate_spend_write_failures_total'), s.value('tollgate_spend_ledger_healthy')]).toEqual([0, 0, 1]);
  });

  it('counts requests in flight from the metadata step until they complete', async () => {
    expect((await h.scrape()).value('tollgate_in_flight_requests')).toBe(0);
    const events = messageStreamEvents({ model: HAIKU, text: ['a', 'b'] });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    h.mock.once('POST', '/v1/messages', {
      async handler(_req, res) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(serializeSseEvents(events.slice(0, 1)));
        await released;
        res.end(serializeSseEvents(events.slice(1)));
      },
    });
    const before = h.completed.length;
    const stream = await search.messages.create({ ...PARAMS, stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    expect((await h.scrape()).value('tollgate_in_flight_requests')).toBe(1);
    release();
    while (!(await it.next()).done);
    await until(() => h.completed.length > before);
    expect((await h.scrape()).value('tollgate_in_flight_requests')).toBe(0);
  });

  it('serves the text format with its content type, and HEAD without a body', async () => {
    const auth = { authorization: `Bearer ${MASTER_KEY}` };
    const res = await fetch(`${h.url}/metrics`, { headers: auth });
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const head = await fetch(`${h.url}/metrics`, { method: 'HEAD', headers: auth });
    expect([head.status, await head.text()]).toEqual([200, '']);
  });
});
