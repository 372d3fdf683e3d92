import { startTestGateway, type TestGateway } from '@tollgate/core/testing';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, MOCK_MODELS, rawRequest, type MockUpstream } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import authPlugin from '../src/index.js';

const MASTER_KEY = 'sk-tg-master-own-cred-41aa';
const UPSTREAM_KEY = 'sk-ant-upstream-own-cred-9f0e';
const CLIENT_KEY = 'sk-ant-api03-client-own-77c1';
const OAUTH = 'sk-ant-oat01-subscriber-3b2d';

let mock: MockUpstream;
let db: TestDatabase;
let perKey: TestGateway;
let allKeys: TestGateway;

async function start(ownCredentials: 'per-key' | 'all-keys'): Promise<TestGateway> {
  return startTestGateway({
    upstream: mock,
    config: {
      log: { level: 'trace' },
      clients: { ownCredentials },
      providers: { anthropic: { apiKey: UPSTREAM_KEY } },
      plugins: [
        { use: '@tollgate/storage', config: db.options },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
      ],
    },
    modules: { '@tollgate/plugin-auth': authPlugin, '@tollgate/storage': storagePlugin },
    adminKey: MASTER_KEY,
    graceMs: 0,
  });
}

beforeAll(async () => {
  mock = await createMockUpstream();
  db = await createTestDatabase('sqlite');
  perKey = await start('per-key');
  allKeys = await start('all-keys');
});
afterAll(async () => {
  await perKey.close();
  await allKeys.close();
  await mock.close();
  await db.drop();
});

const body = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'Hi' }] });
async function send(t: TestGateway, headers: Record<string, string>) {
  mock.requests.length = 0;
  const res = await rawRequest(`${t.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, sent: mock.requests[0]?.headers };
}
const key = async (t: TestGateway, fields: Record<string, unknown> = {}) => (await t.admin('POST', '/key/generate', fields)).body.key as string;

describe('the gateway key in its own header', () => {
  it('admits a virtual key sent in x-tollgate-key and strips it; a wrong one there is refused even beside a good x-api-key', async () => {
    const k = await key(perKey);
    const ok = await send(perKey, { 'x-tollgate-key': k });
    expect([ok.status, ok.sent?.['x-tollgate-key'], ok.sent?.['x-api-key']]).toEqual([200, undefined, UPSTREAM_KEY]);
    const bad = await send(perKey, { 'x-tollgate-key': 'sk-tg-wrong', 'x-api-key': k });
    expect([bad.status, bad.sent]).toEqual([401, undefined]);
  });
});

describe('own credentials', () => {
  it('per key: only a key whose metadata allows it forwards the client credential', async () => {
    const plain = await key(perKey);
    const own = await key(perKey, { metadata: { own_credentials: true } });
    expect((await send(perKey, { 'x-tollgate-key': plain, 'x-api-key': CLIENT_KEY })).sent?.['x-api-key']).toBe(UPSTREAM_KEY);
    const viaKey = await send(perKey, { 'x-tollgate-key': own, 'x-api-key': CLIENT_KEY });
    expect([viaKey.sent?.['x-api-key'], viaKey.sent?.authorization]).toEqual([CLIENT_KEY, undefined]);
    const viaOauth = await send(perKey, { 'x-tollgate-key': own, authorization: `Bearer ${OAUTH}`, 'anthropic-beta': 'oauth-2025-04-20' });
    expect([viaOauth.sent?.authorization, viaOauth.sent?.['x-api-key'], viaOauth.sent?.['anthropic-beta']]).toEqual([`Bearer ${OAUTH}`, undefined, 'oauth-2025-04-20']);
    const billing = perKey.records.slice(-3).map((r) => r.billing);
    expect(billing).toEqual(['gateway', 'client_key', 'subscription']);
  });

  it('never when the gateway key itself came as x-api-key or Bearer', async () => {
    const own = await key(perKey, { metadata: { own_credentials: true } });
    const r = await send(perKey, { 'x-api-key': own, authorization: `Bearer ${OAUTH}` });
    expect([r.status, r.sent?.['x-api-key'], r.sent?.authorization]).toEqual([200, UPSTREAM_KEY, undefined]);
  });

  it('gateway-wide (all-keys): every virtual key may bring its own; the credential is never logged', async () => {
    const k = await key(allKeys);
    expect((await send(allKeys, { 'x-tollgate-key': k, 'x-api-key': CLIENT_KEY })).sent?.['x-api-key']).toBe(CLIENT_KEY);
    for (const t of [perKey, allKeys]) {
      const logs = t.logs.join('\n');
      for (const secret of [CLIENT_KEY, OAUTH, k]) expect(logs).not.toContain(secret);
    }
  });
});

describe('model discovery', () => {
  it('lists only the models a key with a list may use; a key without one sees them all', async () => {
    const limited = await key(perKey, { models: ['claude-haiku-4-5-20251001', 'claude-opus-4-1-20250805'] });
    const list = async (k: string) => JSON.parse((await rawRequest(`${perKey.baseURL}/v1/models?limit=1000`, { headers: { 'x-api-key': k } })).body.toString());
    const page = await list(limited);
    expect(page).toEqual({ data: [MOCK_MODELS[0], MOCK_MODELS[2]], has_more: false, first_id: MOCK_MODELS[0]!.id, last_id: MOCK_MODELS[2]!.id });
    expect((await list(await key(perKey))).data).toEqual(MOCK_MODELS);
  });
});
