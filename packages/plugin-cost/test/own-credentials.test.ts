import { randomBytes } from 'node:crypto';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, messageJson, rawRequest, type MockUpstream } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCostHarness, type CostHarness } from './harness.js';

const CLIENT_KEY = 'sk-ant-api03-client-budget-5e1d';
const OAUTH = 'sk-ant-oat01-subscriber-budget-81c0';
// Haiku 4.5 at $1 / $5 per million: 1,000 in + 500 out = $0.0035 a request.
const USAGE = { input_tokens: 1000, output_tokens: 500 };
const PER_REQUEST = 3_500_000_000n;
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Each store on its own, and SQLite with budgets decided on a Redis counter (fed each booked spend). */
const SETUPS = [
  ...DRIVERS.map((driver) => ({ name: driver, driver, authConfig: {} })),
  { name: 'sqlite with Redis', driver: 'sqlite' as const, authConfig: { sharedLimits: { redisUrl: REDIS_URL, keyPrefix: `tollgate-test-${randomBytes(6).toString('hex')}:` } } },
];

/**
 * Budgets and a client's own credential (Claude Code's key or subscription beside the gateway
 * key): the spend is booked either way; the key's budget counts it unless the key says
 * `own_credentials_budget: false`.
 */
describe.each(SETUPS)("a client's own credential and the key's budget on $name", ({ driver, authConfig }) => {
  let db: TestDatabase;
  let storage: Storage;
  let mock: MockUpstream;
  let h: CostHarness;

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    mock = await createMockUpstream();
    mock.route('POST', '/v1/messages', { json: messageJson({ model: 'claude-haiku-4-5', usage: USAGE }) });
    h = await startCostHarness({ db, mock, authConfig });
    storage = await db.open();
  });
  afterAll(async () => {
    await h?.close();
    await mock?.close();
    await storage?.close();
    await db?.drop();
  });

  const keyWith = async (metadata: Record<string, unknown>) => (await h.admin('POST', '/key/generate', { max_budget: 0.005, metadata })).body as { key: string; token: string };
  /** A message sent with the gateway key in its header, and the client's own credential beside it when given. */
  const send = async (key: string, own?: Record<string, string>, endUser = 'dev-1') => {
    const body = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
    const headers = { 'content-type': 'application/json', 'x-tollgate-key': key, 'x-tollgate-end-user': endUser, ...own };
    const res = await rawRequest(`${h.baseURL}/v1/messages`, { method: 'POST', headers, body });
    return res.status === 200 ? 200 : { status: res.status, error: JSON.parse(res.body.toString()).error };
  };
  const ownKey = { 'x-api-key': CLIENT_KEY };
  const subscription = { authorization: `Bearer ${OAUTH}` };
  const rowsOf = async (token: string) =>
    (await sql<{ billing: string; budget_exempt: number; spend: string }>`select billing, budget_exempt, cast(spend as text) as spend from tollgate_spend_logs where api_key = ${token} and status = 200 order by start_time`.execute(storage.db)).rows.map((r) => [r.billing, Number(r.budget_exempt), BigInt(r.spend)]);
  const budgetSpend = async (token: string) => (await h.admin('GET', `/key/info?key=${token}`)).body.info.spend as number;
  /** A rollup's spend and the part budgets leave out, in whole micro-dollars (these amounts have no pico remainder). */
  const rolledUp = async (table: string, column: string, value: string) => {
    const r = (await sql<Record<string, unknown>>`select sum(spend_micro) as spend, sum(exempt_micro) as exempt, sum(spend_rest) + sum(exempt_rest) as rest from ${sql.table(table)} where ${sql.ref(column)} = ${value}`.execute(storage.db)).rows[0]!;
    return [Number(r.spend), Number(r.exempt), Number(r.rest)];
  };
  const overBudget = { status: 429, error: { type: 'rate_limit_error', message: expect.stringMatching(/^budget exceeded for this key: spent \$0\.007 of its \$0\.005 budget/) } };

  it('with own_credentials_budget: false, keeps admitting a key through its own credential while its rows grow past the budget; the gateway-paid spend alone meets the budget', async () => {
    const k = await keyWith({ own_credentials: true, own_credentials_budget: false });
    const before = h.completed.length;
    for (const own of [ownKey, subscription, ownKey]) expect(await send(k.key, own, 'dev-exempt')).toBe(200);
    await h.committed(before + 3);
    expect(await rowsOf(k.token)).toEqual([['client_key', 1, PER_REQUEST], ['subscription', 1, PER_REQUEST], ['client_key', 1, PER_REQUEST]]);
    expect(await budgetSpend(k.token)).toBe(0);
    // Two requests on the gateway's key spend $0.007 of the $0.005: the third is refused.
    expect([await send(k.key, undefined, 'dev-exempt'), await send(k.key, undefined, 'dev-exempt'), await send(k.key, undefined, 'dev-exempt')]).toEqual([200, 200, overBudget]);
    // Still admitted on its own credential: that spend cannot move the budget.
    expect(await send(k.key, subscription, 'dev-exempt')).toBe(200);
    await h.committed(before + 7);
    expect((await rowsOf(k.token)).map((r) => r.slice(0, 2))).toEqual([['client_key', 1], ['subscription', 1], ['client_key', 1], ['gateway', 0], ['gateway', 0], ['subscription', 1]]);
    expect(await budgetSpend(k.token)).toBe(0.007);
    // The rollups budgets read (the key's, and the end user's for end-user budgets) keep the exempt part apart: $0.021 booked, $0.014 of it exempt.
    expect(await rolledUp('tollgate_spend_daily', 'api_key', k.token)).toEqual([21_000, 14_000, 0]);
    expect(await rolledUp('tollgate_spend_daily_end_users', 'end_user', 'dev-exempt')).toEqual([21_000, 14_000, 0]);
  });

  it.each([
    ['by default', {}],
    ['with own_credentials_budget: true', { own_credentials_budget: true }],
  ])("%s, counts the own credential's spend and refuses the key once it is spent", async (_, setting) => {
    const k = await keyWith({ own_credentials: true, ...setting });
    expect([await send(k.key, ownKey), await send(k.key, subscription), await send(k.key, ownKey)]).toEqual([200, 200, overBudget]);
    expect(await send(k.key)).toEqual(overBudget);
    await h.committed(h.completed.length);
    expect(await rowsOf(k.token)).toEqual([['client_key', 0, PER_REQUEST], ['subscription', 0, PER_REQUEST]]);
    expect(await budgetSpend(k.token)).toBe(0.007);
  });

  it('refuses a metadata setting that is not a boolean', async () => {
    const res = await h.admin('POST', '/key/generate', { metadata: { own_credentials: true, own_credentials_budget: 'yes' } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('own_credentials_budget');
  });

  it('leaves the exempt spend out after a restart: from the rebuilt rollups, from the rows, and from the rollups alone', async () => {
    const k = await keyWith({ own_credentials: true, own_credentials_budget: false });
    const before = h.completed.length;
    for (const own of [ownKey, ownKey, undefined]) expect(await send(k.key, own)).toBe(200);
    await h.committed(before + 3);
    expect(await budgetSpend(k.token)).toBe(0.0035);
    expect((await h.admin('POST', '/spend/rollups/rebuild', {})).status).toBe(200);
    await h.close();
    // Each restart reads the key's budget spend from the ledger as that shape keeps it.
    const shapes = [{ rows: 'all', rollups: false }, { rows: 'none', rollups: true }, { rows: 'all', rollups: true }];
    for (const [i, ledger] of shapes.entries()) {
      h = await startCostHarness({ db, mock, authConfig, costConfig: { ledger: { flushIntervalMs: 20, ...ledger } } });
      expect(await budgetSpend(k.token)).toBe(0.0035);
      expect(await send(k.key, ownKey)).toBe(200);
      await h.committed(1);
      if (i < shapes.length - 1) await h.close();
    }
    expect(await send(k.key)).toBe(200);
    expect(await send(k.key)).toEqual(overBudget);
  }, 60_000); // four gateway boots: slow on a loaded machine
});
