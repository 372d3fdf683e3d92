import { startTestGateway, type TestGateway } from '@tollgate/core/testing';
import authPlugin from '@tollgate/plugin-auth';
import costPlugin from '@tollgate/plugin-cost';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, messageJson, rawRequest, type MockUpstream } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusPlugin } from '../src/plugin.js';
import { parseExposition } from './exposition.js';

const MASTER_KEY = 'sk-tg-master-budget-refusals-41b7';
let mock: MockUpstream;
let db: TestDatabase;
let t: TestGateway;

beforeAll(async () => {
  mock = await createMockUpstream();
  mock.route('POST', '/v1/messages', () => ({ json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 1000, output_tokens: 500 } }) }));
  db = await createTestDatabase('sqlite');
  t = await startTestGateway({
    upstream: mock,
    config: {
      providers: { anthropic: { apiKey: 'sk-ant-up' } },
      plugins: [
        { use: '@tollgate/storage', config: db.options },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
        { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 10 } } },
        { use: '@tollgate/plugin-prometheus', config: { processMetrics: false } },
      ],
    },
    modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin, '@tollgate/plugin-prometheus': prometheusPlugin },
    env: { TOLLGATE_DATA_DIR: (db.options as { dataDir?: string }).dataDir ?? '/tmp/tollgate-budget-refusals' },
    adminKey: MASTER_KEY,
    graceMs: 0,
  });
});
afterAll(async () => {
  await t?.close();
  await mock?.close();
  await db?.drop();
});

describe('a budget refusal', () => {
  it("is counted in tollgate_failed_requests_total and the access log under the key's alias", async () => {
    const made = await t.admin('POST', '/key/generate', { key_alias: 'tight-budget', max_budget: 0.001 });
    const ask = () => rawRequest(`${t.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': made.body.key },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect((await ask()).status).toBe(200); // $0.0035 spent: now over the $0.001 budget
    const refused = await ask();
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body.toString()).error.type).toBe('rate_limit_error');
    await t.waitForRecords(2);

    const metrics = parseExposition(await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${MASTER_KEY}` } })).text());
    expect(metrics.value('tollgate_failed_requests_total', { error_code: 'TG_ERR_BUDGET_EXCEEDED', key_alias: 'tight-budget' })).toBe(1);
    expect(metrics.value('tollgate_requests_total', { status_code: '429', key_alias: 'tight-budget' })).toBe(1);

    const access = t.logs.map((l) => JSON.parse(l)).filter((l) => l.log === 'access' && l.status === 429);
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ caller: 'tight-budget', error: 'rate_limit_error', errorCode: 'TG_ERR_BUDGET_EXCEEDED' });
  });

  it("of an end user, and an end user's block, are counted the same way under the key that sent them", async () => {
    const made = await t.admin('POST', '/key/generate', { key_alias: 'for-end-users' });
    await t.admin('POST', '/customer/new', { user_id: 'tight-customer', max_budget: 0.001 });
    await t.admin('POST', '/customer/block', { user_ids: ['gone-customer'] });
    const ask = (endUser: string) => rawRequest(`${t.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': made.body.key },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }], litellm_metadata: { user: endUser } }),
    });
    const before = t.records.length;
    expect((await ask('tight-customer')).status).toBe(200);
    expect((await ask('tight-customer')).status).toBe(429);
    expect((await ask('gone-customer')).status).toBe(403);
    await t.waitForRecords(before + 3);

    const metrics = parseExposition(await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${MASTER_KEY}` } })).text());
    expect(metrics.value('tollgate_failed_requests_total', { error_code: 'TG_ERR_BUDGET_EXCEEDED', key_alias: 'for-end-users' })).toBe(1);
    expect(metrics.value('tollgate_failed_requests_total', { error_code: 'TG_ERR_END_USER_BLOCKED', key_alias: 'for-end-users' })).toBe(1);
    const access = t.logs.map((l) => JSON.parse(l)).filter((l) => l.log === 'access' && l.caller === 'for-end-users' && l.status >= 400);
    expect(access.map((l) => [l.status, l.errorCode, l.endUser])).toEqual([[429, 'TG_ERR_BUDGET_EXCEEDED', 'tight-customer'], [403, 'TG_ERR_END_USER_BLOCKED', 'gone-customer']]);
  });
});
