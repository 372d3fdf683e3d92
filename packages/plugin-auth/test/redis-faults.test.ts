import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createTestDatabase } from '@tollgate/storage/testing';
import { createTcpRelay, until, type RelayMode } from '@tollgate/testing';
import { hashKey } from '../src/index.js';
import { MASTER_KEY, startHarness, type Harness } from './harness.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_PORT = Number(new URL(REDIS_URL).port || 6379);
const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] };

const opened: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

/**
 * Redis decides limits; when it fails, each replica counts on its own (warned once per outage)
 * rather than refusing traffic, and no request waits longer than the command timeout. Redis is
 * therefore not part of readiness: a replica without it still serves correctly, only its
 * limits are per replica for the time.
 */
describe.each<[string, (relay: Awaited<ReturnType<typeof createTcpRelay>>) => void]>([
  ['reset', (relay) => relay.reset()],
  ['refuse', (relay) => (relay.setMode('refuse'), relay.reset())],
  ['blackhole', (relay) => relay.setMode('blackhole')],
])('two replicas when Redis faults (%s)', (_name, fault) => {
  it('answer every request without waiting on Redis, stay ready, warn, and share limits again once Redis is back', async () => {
    const relay = await createTcpRelay({ port: REDIS_PORT });
    opened.push(relay);
    const db = await createTestDatabase('sqlite');
    opened.push({ close: () => db.drop() });
    const sharedLimits = { redisUrl: `redis://127.0.0.1:${relay.port}`, keyPrefix: `tollgate-test-${randomBytes(6).toString('hex')}:`, commandTimeoutMs: 1000, retryMs: 500 };
    const hs: Harness[] = [];
    for (let i = 0; i < 2; i++) {
      hs.push(await startHarness({ db, authConfig: { masterKey: MASTER_KEY, sharedLimits } }));
      opened.push(hs[i]!);
    }
    const [a, b] = hs as [Harness, Harness];
    const key = async (fields: object) =>
      ((await (await fetch(`${a.url}/key/generate`, { method: 'POST', headers: { 'x-api-key': MASTER_KEY, 'content-type': 'application/json' }, body: JSON.stringify(fields) })).json()) as { key: string }).key;
    // Room for the slots a fault strands (taken in Redis, their answer lost) until Redis is back.
    const limited = await key({ rpm_limit: 100_000, max_parallel_requests: 100 });
    // A request that waited on a blackholed Redis without a bound would trip this 5 s abort.
    const send = (h: Harness, k: string) =>
      fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': k, 'content-type': 'application/json' }, body: JSON.stringify(PARAMS), signal: AbortSignal.timeout(5000) }).then(
        async (r) => (await r.arrayBuffer(), r.status),
      );
    const load = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => send(hs[i % 2]!, limited)));

    expect(new Set(await load(20))).toEqual(new Set([200]));
    const during = load(40);
    fault(relay);
    const after = load(40);
    expect([...(await during), ...(await after)].filter((s) => s !== 200)).toEqual([]);
    for (const h of hs) {
      await until(async () => h.logs.some((l) => l.includes('cannot reach Redis for the shared limits and budgets')), 10_000);
      const ready = await fetch(`${h.url}/health/readiness`, { signal: AbortSignal.timeout(1000) });
      expect(ready.status).toBe(200);
    }
    // Past the fault, requests are counted locally: a burst is still answered in full.
    expect(new Set(await load(40))).toEqual(new Set([200]));

    relay.setMode('pass' as RelayMode);
    await until(async () => {
      await load(2);
      return hs.every((h) => h.logs.some((l) => l.includes('shared limits and budgets are decided through Redis again')));
    }, 20_000);
    // One warning per replica for the outage, one notice when it ends: no flapping on late replies.
    for (const h of hs) {
      const said = h.logs.map((l) => JSON.parse(l).msg as string).filter((m) => /cannot reach Redis|decided through Redis again/.test(m));
      expect(said.map((m) => m.slice(0, 40))).toEqual(['cannot reach Redis for the shared limits', 'shared limits and budgets are decided th']);
    }
    // Every slot is free again: those stranded by the fault were freed once Redis was back.
    const redis = new Redis(REDIS_URL);
    opened.push({ close: () => redis.quit() });
    await until(async () => (await redis.zcard(`${sharedLimits.keyPrefix}slots:${hashKey(limited)}`)) === 0, 10_000);
    // Exact again: rpm_limit 6 over both replicas admits 6 of a burst of 20.
    const fresh = await key({ rpm_limit: 6 });
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => send(hs[i % 2]!, fresh)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(6);
  });
});
