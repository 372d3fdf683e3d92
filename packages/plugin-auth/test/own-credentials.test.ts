import { startTestGateway, type TestGateway } from '@tollgate/core/testing';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, errorReply, MOCK_MODELS, rawRequest, type MockUpstream } from '@tollgate/testing';
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

async function start(ownCredentials: 'per-key' | 'all-keys', anthropic: object = { apiKey: UPSTREAM_KEY }): Promise<TestGateway> {
  return startTestGateway({
    upstream: mock,
    config: {
      log: { level: 'trace' },
      clients: { ownCredentials },
      providers: { anthropic },
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

describe('own credentials through an upstream pool', () => {
  const poolKey = (name: string) => `sk-ant-pool-own-${name}-5e19`;
  const pools: { gw: TestGateway; mocks: MockUpstream[] }[] = [];

  /** A gateway whose provider is a pool of `size` mock upstreams, each with its own key. */
  async function startPool(size: number) {
    const mocks = await Promise.all(Array.from({ length: size }, () => createMockUpstream()));
    const upstreams = mocks.map((m, i) => ({ name: `u${i}`, baseUrl: m.url, apiKey: poolKey(`u${i}`) }));
    const gw = await start('per-key', { apiKey: undefined, baseUrl: undefined, upstreams });
    pools.push({ gw, mocks });
    return { gw, mocks };
  }
  afterAll(async () => {
    for (const p of pools) {
      await p.gw.close();
      await Promise.all(p.mocks.map((m) => m.close()));
    }
  });

  /** Sends one request per session and returns the headers each upstream received, with its name. */
  async function sendAll(p: { gw: TestGateway; mocks: MockUpstream[] }, headers: Record<string, string>, sessions: number) {
    for (const m of p.mocks) m.requests.length = 0;
    const statuses: number[] = [];
    for (let s = 0; s < sessions; s++) {
      const res = await rawRequest(`${p.gw.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-claude-code-session-id': `own-${s}`, ...headers }, body });
      statuses.push(res.status);
    }
    const sent = p.mocks.flatMap((m, i) => m.requests.map((r) => ({ upstream: `u${i}`, key: r.headers['x-api-key'], authorization: r.headers.authorization })));
    return { statuses, sent };
  }

  for (const size of [1, 3]) {
    it(`a pool of ${size}: the client's own key or subscription goes upstream untouched, the gateway's requests get the upstream's key`, async () => {
      const p = await startPool(size);
      const own = await key(p.gw, { metadata: { own_credentials: true } });
      const plain = await key(p.gw);
      const SESSIONS = 12;
      const viaKey = await sendAll(p, { 'x-tollgate-key': own, 'x-api-key': CLIENT_KEY }, SESSIONS);
      expect(viaKey.statuses).toEqual(new Array(SESSIONS).fill(200));
      expect(viaKey.sent.map((r) => [r.key, r.authorization])).toEqual(new Array(SESSIONS).fill([CLIENT_KEY, undefined]));
      const viaOauth = await sendAll(p, { 'x-tollgate-key': own, authorization: `Bearer ${OAUTH}`, 'anthropic-beta': 'oauth-2025-04-20' }, SESSIONS);
      expect(viaOauth.statuses).toEqual(new Array(SESSIONS).fill(200));
      expect(viaOauth.sent.map((r) => [r.key, r.authorization])).toEqual(new Array(SESSIONS).fill([undefined, `Bearer ${OAUTH}`]));
      const viaGateway = await sendAll(p, { 'x-tollgate-key': plain, 'x-api-key': CLIENT_KEY }, SESSIONS);
      expect(viaGateway.statuses).toEqual(new Array(SESSIONS).fill(200));
      expect(viaGateway.sent.map((r) => [r.key, r.authorization])).toEqual(viaGateway.sent.map((r) => [poolKey(r.upstream), undefined]));
      expect(viaGateway.sent).toHaveLength(SESSIONS);
      // Every upstream of the pool was asked, so each one's key handling is what was checked.
      expect(new Set([...viaKey.sent, ...viaOauth.sent, ...viaGateway.sent].map((r) => r.upstream)).size).toBe(size);
      expect((await p.gw.waitForRecords(3 * SESSIONS)).slice(-3 * SESSIONS).map((r) => r.billing)).toEqual([...new Array(SESSIONS).fill('client_key'), ...new Array(SESSIONS).fill('subscription'), ...new Array(SESSIONS).fill('gateway')]);
    });
  }

  it.each([
    ['authentication_error', 401],
    ['rate_limit_error', 429],
  ])("a %s for a client's own credential is relayed as it is, asks no other upstream and leaves the pool healthy", async (type, status) => {
    const p = await startPool(3);
    const own = await key(p.gw, { metadata: { own_credentials: true } });
    // Whichever upstream the session lands on refuses the client's own key.
    for (const m of p.mocks) m.once('POST', '/v1/messages', errorReply(type, `the client's own key: ${type}`));
    const { statuses, sent } = await sendAll(p, { 'x-tollgate-key': own, 'x-api-key': CLIENT_KEY }, 1);
    expect(statuses).toEqual([status]);
    expect(sent).toHaveLength(1);
    const health = (await p.gw.admin('GET', '/health/upstreams')).body.providers.anthropic as { name: string; state: string }[];
    expect(health.map((u) => [u.name, u.state])).toEqual([['u0', 'ok'], ['u1', 'ok'], ['u2', 'ok']]);
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

  it("answers a model outside the key's list as Anthropic answers a model that does not exist, without asking the upstream", async () => {
    const limited = await key(perKey, { models: ['claude-haiku-4-5-20251001'] });
    const get = async (k: string, id: string) => {
      mock.requests.length = 0;
      const res = await rawRequest(`${perKey.baseURL}/v1/models/${id}`, { headers: { 'x-api-key': k } });
      return { status: res.status, body: JSON.parse(res.body.toString()), asked: mock.requests.length };
    };
    const allowed = await get(limited, 'claude-haiku-4-5-20251001');
    expect(allowed).toMatchObject({ status: 200, body: MOCK_MODELS[0], asked: 1 });
    const hidden = await get(limited, MOCK_MODELS[1]!.id);
    expect(hidden).toEqual({ status: 404, body: { type: 'error', error: { type: 'not_found_error', message: `model: ${MOCK_MODELS[1]!.id}` }, request_id: expect.any(String) }, asked: 0 });
    // The same shape as the upstream's own answer for a model that does not exist.
    const missing = await get(await key(perKey), 'claude-nonexistent');
    expect(missing.body.error).toEqual({ type: 'not_found_error', message: 'model: claude-nonexistent' });
    expect((await get(await key(perKey), MOCK_MODELS[1]!.id)).status).toBe(200);
  });
});
