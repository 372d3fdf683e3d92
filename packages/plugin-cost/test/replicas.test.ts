import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway } from '@tollgate/core/testing';
import authPlugin from '@tollgate/plugin-auth';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, until, type MockUpstream } from '@tollgate/testing';
import { costPlugin } from '../src/plugin.js';

const MASTER_KEY = 'sk-tg-master-replica-tests-71c2';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] };
/** $1 + $5 per MTok on claude-haiku-4-5. */
const usage = (input: number, output: number) => ({
  json: { id: 'msg_r', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: input, output_tokens: output } },
});

interface Replica {
  baseURL: string;
  /** Requests this gateway has completed (hooks run, record emitted). */
  completed: { length: number };
  admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

const opened: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

/**
 * Two gateways (storage, auth, cost) on one PostgreSQL schema and one mock upstream; with
 * `redis`, sharing limits and budgets through Redis too.
 */
async function replicas(redis: boolean, sharedSpend: { syncMs?: number } = {}): Promise<{ a: Replica; b: Replica; mock: MockUpstream }> {
  const db = await createTestDatabase('postgres');
  opened.push(() => db.drop());
  const mock = await createMockUpstream();
  opened.push(() => mock.close());
  const keyPrefix = `tollgate-test-${randomBytes(6).toString('hex')}:`;
  const start = async () => {
    const t = await startTestGateway({
      upstream: mock,
      config: {
        providers: { anthropic: { apiKey: 'sk-ant-upstream-replicas' } },
        plugins: [
          { use: '@tollgate/storage', config: db.options },
          { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY, ...(redis ? { sharedLimits: { redisUrl: REDIS_URL, keyPrefix } } : {}) } },
          { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 20 }, batches: { settleEveryMs: 0 }, sharedSpend } },
        ],
      },
      modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin },
      env: { TOLLGATE_DATA_DIR: `/tmp/tollgate-replica-tests-${randomBytes(4).toString('hex')}` },
      adminKey: MASTER_KEY,
      graceMs: 0,
    });
    opened.push(() => t.close());
    return { baseURL: t.baseURL, admin: t.admin, completed: t.records };
  };
  return { a: await start(), b: await start(), mock };
}

const post = (r: Replica, key: string) =>
  fetch(`${r.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(PARAMS) }).then(async (res) => {
    await res.arrayBuffer();
    return res.status;
  });

const messages = (mock: MockUpstream) => mock.requests.filter((r) => r.path === '/v1/messages').length;

describe.each([
  ['PostgreSQL', false],
  ['PostgreSQL and Redis', true],
])('budgets over two replicas sharing %s', (_name, redis) => {
  it('a $0.50 budget spent through replica A: bursts on B after quiet gaps are all refused, and /key/info agrees on both', async () => {
    const { a, b, mock } = await replicas(redis);
    mock.route('POST', '/v1/messages', usage(20_000, 6_000)); // $0.02 + $0.03 = $0.05 a request
    const { key, token } = (await a.admin('POST', '/key/generate', { max_budget: 0.5 })).body;
    for (let i = 0; i < 10; i++) expect(await post(a, key)).toBe(200);
    expect(await post(a, key)).toBe(429);
    for (let gap = 0; gap < 3; gap++) {
      // Quiet for longer than any sync window (sharedSpend.syncMs is 1 s).
      await new Promise((r) => setTimeout(r, 2500));
      const statuses = await Promise.all(Array.from({ length: 25 }, () => post(b, key)));
      expect(statuses.filter((s) => s !== 429)).toEqual([]);
    }
    expect(messages(mock)).toBe(10);
    for (const r of [a, b]) expect((await r.admin('GET', `/key/info?key=${token}`)).body.info.spend).toBe(0.5);
  });

  // Without Redis the bound is looser: the other replicas' rows of their last flush interval (not yet committed) are not seen either.
  it.runIf(redis)('steady load on both replicas: a $0.05 budget ends over by at most the requests in flight', async () => {
    const { a, b, mock } = await replicas(redis);
    mock.route('POST', '/v1/messages', usage(2000, 1000)); // $0.007 a request
    const { key, token } = (await a.admin('POST', '/key/generate', { max_budget: 0.05 })).body;
    // Two clients on each replica, each sending until it is refused. A client sends its next
    // request once the gateway has completed its last (a request is in flight until then, as
    // the gateway counts it): at most 4 requests are in flight at any time.
    const answered = new Map<Replica, number>([[a, 0], [b, 0]]);
    const client = async (r: Replica) => {
      for (;;) {
        const status = await post(r, key);
        answered.set(r, answered.get(r)! + 1);
        await until(async () => r.completed.length >= answered.get(r)!, 5000);
        if (status !== 200) return;
      }
    };
    await Promise.all([client(a), client(a), client(b), client(b)]);
    const n = messages(mock);
    // Admitted while under $0.05 (at most 7 × $0.007 = $0.049 booked), plus at most the 3 others in flight then.
    expect(n).toBeGreaterThanOrEqual(8);
    expect(n).toBeLessThanOrEqual(7 + 4);
    const spend = (n * 7) / 1000;
    for (const r of [a, b]) await until(async () => (await r.admin('GET', `/key/info?key=${token}`)).body.info.spend === spend, 5000);
  });
});
