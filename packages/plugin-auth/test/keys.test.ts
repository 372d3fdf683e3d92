import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { Redis } from 'ioredis';
import { definePlugin, usdToPico, type Pico, SPEND_TOTALS } from '@tollgate/core';
import { sql } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { messageStreamEvents } from '@tollgate/testing';
import { hashKey } from '../src/index.js';
import { MASTER_KEY, startHarness, UPSTREAM_KEY, waitForCompleted, type Harness } from './harness.js';
import { until } from '@tollgate/testing';

const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'Hi' }] };

/** A stand-in for the cost plugin's SPEND_TOTALS contract: books a fixed price per request. */
function fixedPriceSpend(pricePerRequestUsd: string) {
  const totals = new Map<string, Pico>();
  const plugin = definePlugin({
    name: 'spend-stand-in',
    priority: 100,
    setup(api) {
      api.provide(SPEND_TOTALS, { keySpend: (hash: string) => totals.get(hash) ?? 0n });
      return {
        onComplete(ctx) {
          const hash = ctx.principal?.keyHash;
          if (hash && ctx.usage) totals.set(hash, (totals.get(hash) ?? 0n) + usdToPico(pricePerRequestUsd));
        },
      };
    },
  });
  return { plugin, totals };
}

async function admin(h: Harness, method: 'GET' | 'POST', path: string, body?: unknown, key: string | null = MASTER_KEY) {
  const res = await fetch(`${h.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

const sdk = (h: Harness, key: string, style: 'bearer' | 'x-api-key' = 'bearer') =>
  style === 'bearer'
    ? new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 })
    : new Anthropic({ apiKey: 'unused', baseURL: h.baseURL, maxRetries: 0, defaultHeaders: { 'x-api-key': key, authorization: null } });

async function failure(p: Promise<unknown>): Promise<APIError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(APIError);
  return err as APIError;
}

describe.each(DRIVERS)('virtual keys on %s', (driver) => {
  let db: TestDatabase;
  let h: Harness;
  const spend = fixedPriceSpend('0.01');

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    h = await startHarness({ db, authConfig: { masterKey: MASTER_KEY }, plugins: [spend.plugin] });
  });
  afterAll(async () => {
    await h.close();
    await db.drop();
  });
  afterEach(() => {
    h.mock.reset();
  });

  it('creates a key shown once, stored only as its hash, accepted in both header styles', async () => {
    const created = await admin(h, 'POST', '/key/generate', { key_alias: `alice-${driver}`, user_id: 'alice', team_id: 'search', metadata: { env: 'test' } });
    expect(created.status).toBe(200);
    const key: string = created.body.key;
    expect(key).toMatch(/^sk-[A-Za-z0-9_-]{32}$/);
    expect(created.body).toMatchObject({ token: hashKey(key), key_name: `sk-...${key.slice(-4)}`, key_alias: `alice-${driver}`, user_id: 'alice', team_id: 'search', metadata: { env: 'test' }, spend: 0, blocked: false, expires: null, models: [] });
    const storage = await db.open();
    try {
      const rows = await storage.db.selectFrom('tollgate_keys').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(key);
    } finally {
      await storage.close();
    }
    const before = h.completed.length;
    await sdk(h, key, 'bearer').messages.create(PARAMS);
    await sdk(h, key, 'x-api-key').messages.create(PARAMS);
    for (const r of h.mock.requests) {
      expect(r.headers['x-api-key']).toBe(UPSTREAM_KEY);
      expect(r.headers.authorization).toBeUndefined();
    }
    const records = await waitForCompleted(h, before + 2);
    expect(records.at(-1)!.principal).toEqual({ kind: 'virtual', keyHash: hashKey(key), keyAlias: `alice-${driver}`, userId: 'alice', teamId: 'search' });
    expect(h.logs.join('')).not.toContain(key);
    expect(h.logs.join('')).not.toContain(MASTER_KEY);
  });

  it('refuses unknown, blocked, deleted and regenerated-away keys with 401', async () => {
    expect((await failure(sdk(h, 'sk-not-a-real-key').messages.create(PARAMS))).status).toBe(401);
    const { key } = (await admin(h, 'POST', '/key/generate', {})).body;
    expect((await admin(h, 'POST', '/key/block', { key })).body.blocked).toBe(true);
    const blocked = await failure(sdk(h, key).messages.create(PARAMS));
    expect([blocked.status, (blocked.error as any).error]).toEqual([401, { type: 'authentication_error', message: 'this API key is blocked' }]);
    await admin(h, 'POST', '/key/unblock', { key: hashKey(key) });
    await sdk(h, key).messages.create(PARAMS);
    const regenerated = (await admin(h, 'POST', '/key/regenerate', { key })).body;
    expect(regenerated.key).not.toBe(key);
    expect((await failure(sdk(h, key).messages.create(PARAMS))).status).toBe(401);
    await sdk(h, regenerated.key).messages.create(PARAMS);
    expect((await admin(h, 'POST', '/key/delete', { keys: [regenerated.key] })).body).toEqual({ deleted_keys: [regenerated.key] });
    expect((await failure(sdk(h, regenerated.key).messages.create(PARAMS))).status).toBe(401);
    expect(h.mock.requests).toHaveLength(2);
  });

  it('expires a key after its duration', async () => {
    const { key, expires } = (await admin(h, 'POST', '/key/generate', { duration: '1s' })).body;
    expect(Date.parse(expires) - Date.now()).toBeLessThanOrEqual(1000);
    await until(async () => (await sdk(h, key).messages.create(PARAMS).then(() => 200, (e: APIError) => e.status)) === 401);
    const err = await failure(sdk(h, key).messages.create(PARAMS));
    expect((err.error as any).error.message).toBe(`this API key expired at ${expires}`);
  });

  it('enforces the model allow-list with 403 naming the allowed models, batches included', async () => {
    const { key } = (await admin(h, 'POST', '/key/generate', { models: ['claude-haiku-4-5', 'claude-opus-4-1'] })).body;
    await sdk(h, key).messages.create(PARAMS);
    const denied = await failure(sdk(h, key).messages.create({ ...PARAMS, model: 'claude-sonnet-4-5' }));
    expect(denied).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((denied.error as any).error.message).toBe('this key may not use claude-sonnet-4-5; allowed models: claude-haiku-4-5, claude-opus-4-1');
    const batch = await failure(
      sdk(h, key).messages.batches.create({ requests: [{ custom_id: 'a', params: PARAMS }, { custom_id: 'b', params: { ...PARAMS, model: 'claude-sonnet-4-5' } }] }),
    );
    expect(batch.status).toBe(403);
    expect(h.mock.requests).toHaveLength(1);
  });

  it('stops a key at its budget with a 429 that says budget, streams included, and reports spend', async () => {
    const { key, token } = (await admin(h, 'POST', '/key/generate', { max_budget: 0.02 })).body;
    await sdk(h, key).messages.create(PARAMS);
    const stream = await sdk(h, key).messages.create({ ...PARAMS, stream: true });
    for await (const _ of stream) void _;
    await until(async () => spend.totals.get(token) === usdToPico('0.02'));
    const over = await failure(sdk(h, key).messages.create(PARAMS));
    expect(over).toBeInstanceOf(Anthropic.RateLimitError);
    expect((over.error as any).error).toEqual({ type: 'rate_limit_error', message: 'budget exceeded for this key: spent $0.02 of its $0.02 budget (it does not reset)' });
    const info = (await admin(h, 'GET', `/key/info?key=${encodeURIComponent(key)}`)).body;
    expect(info).toMatchObject({ key, info: { spend: 0.02, max_budget: 0.02, token } });
  });

  it('a regenerated key keeps the spend of its budget window', async () => {
    const { key, token } = (await admin(h, 'POST', '/key/generate', { max_budget: 0.02 })).body;
    await sdk(h, key).messages.create(PARAMS);
    await sdk(h, key).messages.create(PARAMS);
    await until(async () => spend.totals.get(token) === usdToPico('0.02'));
    const fresh = (await admin(h, 'POST', '/key/regenerate', { key })).body;
    const err = await failure(sdk(h, fresh.key).messages.create(PARAMS));
    expect((err.error as any).error.message).toBe('budget exceeded for this key: spent $0.02 of its $0.02 budget (it does not reset)');
    expect(fresh.spend).toBe(0.02);
  });

  it('resets the budget when its window ends', async () => {
    const { key, budget_reset_at } = (await admin(h, 'POST', '/key/generate', { max_budget: 0.01, budget_duration: '2s' })).body;
    await sdk(h, key).messages.create(PARAMS);
    await until(async () => (await sdk(h, key).messages.create(PARAMS).then(() => 200, (e: APIError) => e.status)) === 429, 1500);
    await until(async () => Date.now() >= Date.parse(budget_reset_at), 3000);
    await sdk(h, key).messages.create(PARAMS);
    const info = (await admin(h, 'GET', `/key/info?key=${encodeURIComponent(key)}`)).body.info;
    expect(Date.parse(info.budget_reset_at)).toBe(Date.parse(budget_reset_at) + 2000);
  });

  it('limits requests per minute with retry-after', async () => {
    const { key } = (await admin(h, 'POST', '/key/generate', { rpm_limit: 2 })).body;
    await sdk(h, key).messages.create(PARAMS);
    await sdk(h, key).messages.create(PARAMS);
    const res = await fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(PARAMS) });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await res.json()) as any).error).toEqual({ type: 'rate_limit_error', message: 'rate limit reached for this key: 2 requests per minute' });
  });

  it('limits tokens per minute from the usage of finished requests', async () => {
    const { key } = (await admin(h, 'POST', '/key/generate', { tpm_limit: 30 })).body;
    h.mock.route('POST', '/v1/messages', { json: { id: 'm', type: 'message', role: 'assistant', model: 'x', content: [], stop_reason: 'end_turn', usage: { input_tokens: 20, output_tokens: 15 } } });
    const before = h.completed.length;
    await sdk(h, key).messages.create(PARAMS);
    await waitForCompleted(h, before + 1);
    const err = await failure(sdk(h, key).messages.create(PARAMS));
    expect((err.error as any).error.message).toBe('rate limit reached for this key: 30 tokens per minute');
  });

  it('limits requests in flight, and frees the slot when one ends', async () => {
    const { key } = (await admin(h, 'POST', '/key/generate', { max_parallel_requests: 1 })).body;
    h.mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a', 'b', 'c'] }), eventDelayMs: 150 });
    const first = sdk(h, key).messages.create({ ...PARAMS, stream: true });
    await h.mock.waitForRequests(1);
    const second = await failure(sdk(h, key).messages.create(PARAMS));
    expect((second.error as any).error.message).toBe('rate limit reached for this key: 1 requests in flight');
    for await (const _ of await first) void _;
    await until(async () => (await sdk(h, key).messages.create(PARAMS).then(() => true, () => false)));
  });
});

describe('the admin API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ authConfig: { masterKey: MASTER_KEY } });
  });
  afterAll(() => h.close());

  it('needs the master key', async () => {
    expect((await admin(h, 'POST', '/key/generate', {}, null)).status).toBe(401);
    expect((await admin(h, 'POST', '/key/generate', {}, 'sk-wrong')).status).toBe(401);
    const { key } = (await admin(h, 'POST', '/key/generate', {})).body;
    expect((await admin(h, 'GET', '/key/list', undefined, key)).status).toBe(401);
  });

  it('rejects unknown fields and bad values with a 400 that names them', async () => {
    const typo = await admin(h, 'POST', '/key/generate', { tpm_limt: 5 });
    expect(typo.status).toBe(400);
    expect(typo.body.error.message).toContain('unknown field "tpm_limt"');
    expect((await admin(h, 'POST', '/key/generate', { budget_duration: 'soon' })).body.error.message).toBe('budget_duration must be a duration such as 30s, 1h, 1d, 30d or 1mo');
    expect((await admin(h, 'POST', '/key/generate', { rpm_limit: -1 })).status).toBe(400);
    // What PostgreSQL's integer columns hold, and what a date can hold: 400s, not 500s.
    const tooBig = await admin(h, 'POST', '/key/generate', { tpm_limit: 2 ** 31 });
    expect([tooBig.status, tooBig.body.error.message]).toEqual([400, 'tpm_limit must be <= 2147483647']);
    for (const field of ['duration', 'budget_duration']) {
      const far = await admin(h, 'POST', '/key/generate', { [field]: '99999999999d' });
      expect([far.status, far.body.error.message]).toEqual([400, `${field} 99999999999d is too long: it would end past the last date a timestamp can hold`]);
    }
  });

  it('refuses a budget when no cost plugin counts spend', async () => {
    const res = await admin(h, 'POST', '/key/generate', { max_budget: 5 });
    expect([res.status, res.body.error.message]).toEqual([400, 'max_budget needs a cost plugin (@tollgate/plugin-cost) to count spend, and none is loaded']);
  });

  it('keeps aliases unique, lists with pages, finds by alias, deletes by alias', async () => {
    await admin(h, 'POST', '/key/generate', { key_alias: 'dup' });
    expect((await admin(h, 'POST', '/key/generate', { key_alias: 'dup' })).body.error.message).toBe('key_alias "dup" is already taken');
    for (let i = 0; i < 3; i++) await admin(h, 'POST', '/key/generate', { user_id: 'paged' });
    const page2 = (await admin(h, 'GET', '/key/list?user_id=paged&size=2&page=2')).body;
    expect(page2).toMatchObject({ total_count: 3, current_page: 2, total_pages: 2 });
    expect(page2.keys).toHaveLength(1);
    expect(page2.keys[0]).toMatch(/^[0-9a-f]{64}$/);
    const full = (await admin(h, 'GET', '/key/list?key_alias=dup&return_full_object=true')).body;
    expect(full.keys.map((k: any) => k.key_alias)).toEqual(['dup']);
    expect((await admin(h, 'POST', '/key/delete', { key_aliases: ['dup'] })).body).toEqual({ deleted_keys: ['dup'] });
    expect((await admin(h, 'POST', '/key/delete', { key_aliases: ['dup'] })).status).toBe(404);
    expect((await admin(h, 'GET', '/key/info?key=sk-nope')).status).toBe(404);
  });

  it('settles a race for one alias with a 400, and refuses empty deletes and updates', async () => {
    const results = await Promise.all([1, 2, 3].map(() => admin(h, 'POST', '/key/generate', { key_alias: 'raced' })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400]);
    expect(results.filter((r) => r.status === 400).map((r) => r.body.error.message)).toEqual(['key_alias "raced" is already taken', 'key_alias "raced" is already taken']);
    expect((await admin(h, 'POST', '/key/delete', {})).body.error.message).toBe('give the keys to delete in keys or key_aliases');
    const { key } = (await admin(h, 'POST', '/key/generate', {})).body;
    expect((await admin(h, 'POST', '/key/update', { key })).body.error.message).toBe('nothing to update: give at least one field');
  });

  it('updates fields and the change applies on the next request', async () => {
    const { key } = (await admin(h, 'POST', '/key/generate', {})).body;
    const updated = (await admin(h, 'POST', '/key/update', { key, models: ['claude-opus-4-1'], user_id: 'bob' })).body;
    expect(updated).toMatchObject({ key, models: ['claude-opus-4-1'], user_id: 'bob' });
    expect((await failure(sdk(h, key).messages.create(PARAMS))).status).toBe(403);
  });
});

/** A real outage for the gateway's key lookups: the table they read is gone. */
async function takeKeysTableAway(db: TestDatabase): Promise<void> {
  const storage = await db.open();
  await sql`alter table tollgate_keys rename to tollgate_keys_away`.execute(storage.db);
  await storage.close();
}

describe('a key store outage', () => {
  it('answers 503 with retry-after for keys it cannot look up, and keeps serving cached ones', async () => {
    const db = await createTestDatabase('sqlite');
    const h = await startHarness({ db, authConfig: { masterKey: MASTER_KEY } });
    try {
      const { key } = (await admin(h, 'POST', '/key/generate', {})).body;
      await sdk(h, key).messages.create(PARAMS);
      await takeKeysTableAway(db);
      const res = await fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'sk-never-seen', 'content-type': 'application/json' }, body: JSON.stringify(PARAMS) });
      expect([res.status, res.headers.get('retry-after'), ((await res.json()) as any).error]).toEqual([503, '5', { type: 'api_error', message: 'the key store is unavailable; try again shortly' }]);
      await sdk(h, key).messages.create(PARAMS);
    } finally {
      await h.close();
      await db.drop();
    }
  });
});

describe('a stalled key store', () => {
  it('waits at most lookupTimeoutMs, then answers a known key as last loaded and an unknown one with 503', async () => {
    // A real stall: another transaction holds an exclusive lock on the keys table, so the
    // gateway's lookups wait on PostgreSQL itself.
    const db = await createTestDatabase('postgres');
    const h = await startHarness({ db, authConfig: { masterKey: MASTER_KEY, lookupTimeoutMs: 300, cacheTtlMs: 200 } });
    const storage = await db.open();
    const post = (key: string) => fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(PARAMS) });
    const timed = async (key: string) => {
      const started = Date.now();
      const res = await post(key);
      return { status: res.status, body: (await res.json()) as any, retryAfter: res.headers.get('retry-after'), ms: Date.now() - started };
    };
    try {
      const { key } = (await admin(h, 'POST', '/key/generate', {})).body;
      let release!: () => void;
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const lock = storage.db.transaction().execute(async (tx) => {
        await sql`lock table tollgate_keys in access exclusive mode`.execute(tx);
        locked();
        await new Promise<void>((r) => (release = r));
      });
      await isLocked;
      await new Promise((r) => setTimeout(r, 250)); // the key's cache entry expires

      const unknown = await timed('sk-never-seen-anywhere');
      expect([unknown.status, unknown.retryAfter, unknown.body.error]).toEqual([503, '5', { type: 'api_error', message: 'the key store is unavailable; try again shortly' }]);
      expect(unknown.ms).toBeGreaterThanOrEqual(290);
      expect(unknown.ms).toBeLessThan(3000);
      expect(h.logs.join('\n')).toContain('the key store did not answer within 300 ms');

      const stale = await timed(key);
      expect(stale.status).toBe(200);
      expect(stale.ms).toBeGreaterThanOrEqual(290);
      expect(h.logs.join('\n')).toContain('accepting the key as last loaded');
      // Answered stale, the entry counts as fresh again: the next request does not wait.
      const next = await timed(key);
      expect(next.status).toBe(200);
      expect(next.ms).toBeLessThan(250);

      release();
      await lock;
      await sdk(h, key).messages.create(PARAMS);
    } finally {
      await storage.close();
      await h.close();
      await db.drop();
    }
  });

  it('with staleIfErrorMs 0, an expired key is refused with 503 while the store fails', async () => {
    const db = await createTestDatabase('sqlite');
    const h = await startHarness({ db, authConfig: { masterKey: MASTER_KEY, cacheTtlMs: 100, staleIfErrorMs: 0 } });
    try {
      const { key } = (await admin(h, 'POST', '/key/generate', {})).body;
      await sdk(h, key).messages.create(PARAMS);
      await takeKeysTableAway(db);
      await new Promise((r) => setTimeout(r, 150));
      expect((await failure(sdk(h, key).messages.create(PARAMS))).status).toBe(503);
    } finally {
      await h.close();
      await db.drop();
    }
  });
});

describe('replicas sharing Redis', () => {
  // The Redis every machine (CI included) runs.
  const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const post = (h: Harness, key: string) =>
    fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(PARAMS) });
  /** Two gateways on one database with the same auth config, closed (and the database dropped) after `run`. */
  async function withReplicas(authConfig: Record<string, unknown>, run: (a: Harness, b: Harness) => Promise<void>): Promise<void> {
    const db = await createTestDatabase('sqlite');
    const a = await startHarness({ db, authConfig });
    const b = await startHarness({ db, authConfig });
    try {
      await run(a, b);
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  }

  it("count every replica's requests and tokens of the minute, and refuse on the replica that did not use them", async () => {
    // The limits are per clock minute: start well inside one.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    const sharedLimits = { redisUrl: REDIS_URL, keyPrefix: `tollgate-test-${randomBytes(6).toString('hex')}:` };
    await withReplicas({ masterKey: MASTER_KEY, sharedLimits }, async (a, b) => {
      const { key: rpmKey } = (await admin(a, 'POST', '/key/generate', { rpm_limit: 3 })).body;
      await sdk(a, rpmKey).messages.create(PARAMS);
      await sdk(a, rpmKey).messages.create(PARAMS);
      await sdk(b, rpmKey).messages.create(PARAMS);
      // Decided in Redis at admission: B refuses the fourth at once.
      const refused = await failure(sdk(b, rpmKey).messages.create(PARAMS));
      expect([refused.status, (refused.error as any).error.message]).toEqual([429, 'rate limit reached for this key: 3 requests per minute']);

      const usage = { id: 'm', type: 'message', role: 'assistant', model: 'x', content: [], stop_reason: 'end_turn', usage: { input_tokens: 20, output_tokens: 15 } };
      a.mock.route('POST', '/v1/messages', { json: usage });
      const { key: tpmKey } = (await admin(a, 'POST', '/key/generate', { tpm_limit: 60 })).body;
      await sdk(a, tpmKey).messages.create(PARAMS);
      await sdk(a, tpmKey).messages.create(PARAMS); // 70 tokens on A, none on B
      // A books a request's tokens as it completes, just after the client has its answer.
      await until(async () => (await post(b, tpmKey)).status === 429, 5000);
      expect(b.mock.requests).toHaveLength(1); // only the rpm key's request reached B's upstream
    });
  });

  it('tells the other replicas at once when a key is blocked, regenerated or deleted', async () => {
    const sharedLimits = { redisUrl: REDIS_URL, keyPrefix: `tollgate-test-${randomBytes(6).toString('hex')}:` };
    // A 60 s cache: without the message, B would keep accepting the key for a minute.
    await withReplicas({ masterKey: MASTER_KEY, cacheTtlMs: 60_000, sharedLimits }, async (a, b) => {
      const refusedOnB = (key: string) => until(async () => (await post(b, key)).status === 401, 2000);
      const first = (await admin(a, 'POST', '/key/generate', {})).body.key;
      await sdk(b, first).messages.create(PARAMS); // cached on B
      expect((await admin(a, 'POST', '/key/block', { key: first })).status).toBe(200);
      await refusedOnB(first);
      expect(((await (await post(b, first)).json()) as any).error.message).toBe('this API key is blocked');

      const second = (await admin(a, 'POST', '/key/generate', {})).body.key;
      await sdk(b, second).messages.create(PARAMS);
      const renewed = (await admin(a, 'POST', '/key/regenerate', { key: second })).body.key;
      await refusedOnB(second);
      await sdk(b, renewed).messages.create(PARAMS);
      expect((await admin(a, 'POST', '/key/delete', { keys: [renewed] })).status).toBe(200);
      await refusedOnB(renewed);
    });
  });

  it("counts every replica's requests in flight against max_parallel_requests, and frees the slot when one ends", async () => {
    const sharedLimits = { redisUrl: REDIS_URL, keyPrefix: `tollgate-test-${randomBytes(6).toString('hex')}:` };
    await withReplicas({ masterKey: MASTER_KEY, sharedLimits }, async (a, b) => {
      const { key } = (await admin(a, 'POST', '/key/generate', { max_parallel_requests: 1 })).body;
      a.mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a', 'b', 'c', 'd'] }), eventDelayMs: 250 });
      const held = sdk(a, key).messages.create({ ...PARAMS, stream: true });
      await a.mock.waitForRequests(1);
      const refused = await post(b, key);
      expect([refused.status, ((await refused.json()) as any).error.message]).toEqual([429, 'rate limit reached for this key: 1 requests in flight']);
      for await (const _ of await held) void _;
      await until(async () => (await post(b, key)).status === 200, 5000);
    });
  });

  it("frees a crashed replica's slots after slotTtlMs, and keeps a live replica's long request's slot past it", async () => {
    const keyPrefix = `tollgate-test-${randomBytes(6).toString('hex')}:`;
    const redis = new Redis(REDIS_URL);
    const h = await startHarness({ authConfig: { masterKey: MASTER_KEY, sharedLimits: { redisUrl: REDIS_URL, slotTtlMs: 1000, keyPrefix } } });
    try {
      const { key } = (await admin(h, 'POST', '/key/generate', { max_parallel_requests: 1 })).body;
      // A replica that crashed holding the key's one slot: it never renews it.
      const [seconds] = await redis.time();
      await redis.zadd(`${keyPrefix}slots:${hashKey(key)}`, Number(seconds) * 1000 + 1000, 'crashed-replica-slot');
      expect((await post(h, key)).status).toBe(429);
      await until(async () => (await post(h, key)).status === 200, 10_000);

      // A stream held well past the slot TTL keeps its slot: this replica renews it.
      h.mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a', 'b', 'c', 'd', 'e', 'f'] }), eventDelayMs: 500 });
      const held = sdk(h, key).messages.create({ ...PARAMS, stream: true });
      await h.mock.waitForRequests(2);
      // Not a synchronisation: the time itself is under test (2.5 slot TTLs pass).
      await new Promise((r) => setTimeout(r, 2500));
      expect((await post(h, key)).status).toBe(429);
      for await (const _ of await held) void _;
      await until(async () => (await redis.zcard(`${keyPrefix}slots:${hashKey(key)}`)) === 0, 5000);
    } finally {
      await h.close();
      await redis.quit();
    }
  });

  it('counts on its own, and says so once, when Redis cannot be reached', async () => {
    const h = await startHarness({ authConfig: { masterKey: MASTER_KEY, sharedLimits: { redisUrl: 'redis://127.0.0.1:1' } } });
    try {
      const { key } = (await admin(h, 'POST', '/key/generate', { rpm_limit: 2 })).body;
      await sdk(h, key).messages.create(PARAMS);
      await sdk(h, key).messages.create(PARAMS);
      expect((await failure(sdk(h, key).messages.create(PARAMS))).status).toBe(429);
      await new Promise((r) => setTimeout(r, 200));
      expect(h.logs.filter((l) => l.includes('cannot reach Redis for the shared limits and budgets'))).toHaveLength(1);
    } finally {
      await h.close();
    }
  });
});

describe('open mode', () => {
  it('accepts any key, attributes known virtual keys, and refuses key management', async () => {
    const h = await startHarness();
    try {
      await sdk(h, 'anything').messages.create(PARAMS);
      const res = await admin(h, 'POST', '/key/generate', {});
      expect([res.status, res.body.error]).toEqual([403, { type: 'permission_error', message: 'key management needs a master key: set TOLLGATE_MASTER_KEY' }]);
      const [record] = await waitForCompleted(h, 1);
      expect(record.principal).toEqual({ kind: 'open' });
    } finally {
      await h.close();
    }
  });
});

describe('durability', () => {
  it('keys survive a restart on the embedded store, and budgets without a cost plugin fail the boot', async () => {
    const db = await createTestDatabase('sqlite');
    const spend = fixedPriceSpend('0.01');
    let h = await startHarness({ db, authConfig: { masterKey: MASTER_KEY }, plugins: [spend.plugin] });
    const { key } = (await admin(h, 'POST', '/key/generate', { key_alias: 'kept', max_budget: 1 })).body;
    await h.close();
    h = await startHarness({ db, authConfig: { masterKey: MASTER_KEY }, plugins: [fixedPriceSpend('0.01').plugin] });
    try {
      await sdk(h, key).messages.create(PARAMS);
    } finally {
      await h.close();
    }
    await expect(startHarness({ db, authConfig: { masterKey: MASTER_KEY } })).rejects.toThrow(
      '1 virtual key(s) have a max_budget, but no cost plugin is loaded to count spend: add @tollgate/plugin-cost or remove the budgets',
    );
    await db.drop();
  });
});
