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

/** How the replicas share budgets: Redis, PostgreSQL counters (the default without Redis), or reads of the ledger. */
type Sharing = 'redis' | 'postgres' | 'ledger';

/**
 * Two gateways (storage, auth, cost) on one PostgreSQL schema and one mock upstream, sharing
 * limits and budgets as `sharing` says.
 */
async function replicas(sharing: Sharing, sharedSpend: { syncMs?: number } = {}): Promise<{ a: Replica; b: Replica; mock: MockUpstream }> {
  const db = await createTestDatabase('postgres');
  opened.push(() => db.drop());
  const mock = await createMockUpstream();
  opened.push(() => mock.close());
  const keyPrefix = `tollgate-test-${randomBytes(6).toString('hex')}:`;
  const sharedLimits = { redis: { redisUrl: REDIS_URL, keyPrefix }, postgres: {}, ledger: { postgres: false } }[sharing];
  const start = async () => {
    const t = await startTestGateway({
      upstream: mock,
      config: {
        providers: { anthropic: { apiKey: 'sk-ant-upstream-replicas' } },
        plugins: [
          { use: '@tollgate/storage', config: db.options },
          { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY, sharedLimits } },
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

describe.each<[string, Sharing]>([
  ['PostgreSQL (counters in PostgreSQL)', 'postgres'],
  ['PostgreSQL and Redis (counters in Redis)', 'redis'],
  ['PostgreSQL without shared counters (reads of the ledger)', 'ledger'],
])('budgets over two replicas sharing %s', (_name, sharing) => {
  it('a $0.50 budget spent through replica A: bursts on B after quiet gaps are all refused, and /key/info agrees on both', async () => {
    const { a, b, mock } = await replicas(sharing);
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
  }, 60_000);

  // With shared counters, B needs no read of the ledger to see what A spent: a read as fresh as
  // sharedSpend.syncMs (a minute here) does not let B admit a key A has used up since.
  it.runIf(sharing !== 'ledger')('a budget used up on A while B had read it: bursts on B after a quiet gap are all refused', async () => {
    const { a, b, mock } = await replicas(sharing, { syncMs: 60_000 });
    mock.route('POST', '/v1/messages', usage(20_000, 6_000)); // $0.05 a request
    const { key } = (await a.admin('POST', '/key/generate', { max_budget: 0.5 })).body;
    expect(await post(b, key)).toBe(200); // B has read the key's spend ($0)
    await until(async () => b.completed.length === 1, 5000);
    for (let i = 0; i < 9; i++) expect(await post(a, key)).toBe(200);
    expect(await post(a, key)).toBe(429);
    await new Promise((r) => setTimeout(r, 1000)); // quiet, well inside B's sync window
    for (let round = 0; round < 2; round++) {
      const statuses = await Promise.all(Array.from({ length: 25 }, () => post(b, key)));
      expect(statuses.filter((s) => s !== 429)).toEqual([]);
    }
    expect(messages(mock)).toBe(10);
  });

  // Without shared counters the bound is looser: the other replicas' spend of the last syncMs and flush interval is not seen.
  it.runIf(sharing !== 'ledger')('steady load on both replicas: a $0.05 budget ends over by at most the requests in flight', async () => {
    const { a, b, mock } = await replicas(sharing);
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
