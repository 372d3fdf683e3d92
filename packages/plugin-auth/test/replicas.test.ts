import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createTcpRelay, until, type TcpRelay } from '@tollgate/testing';
import { MASTER_KEY, startHarness, type Harness } from './harness.js';
import { exactInBursts, newKey, post } from './replica-suite.js';

// The Redis every machine (CI included) runs.
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_PORT = Number(new URL(REDIS_URL).port || 6379);

const opened: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

/** Two gateways on one database, each reaching Redis at `urls[i]` (default: directly). */
async function replicas(authConfig: Record<string, unknown>, urls: [string, string] = [REDIS_URL, REDIS_URL]): Promise<[Harness, Harness, string]> {
  const db: TestDatabase = await createTestDatabase('sqlite');
  opened.push({ close: () => db.drop() });
  const keyPrefix = `tollgate-test-${randomBytes(6).toString('hex')}:`;
  const start = (redisUrl: string) => startHarness({ db, authConfig: { masterKey: MASTER_KEY, ...authConfig, sharedLimits: { keyPrefix, ...(authConfig.sharedLimits as object), redisUrl } } });
  const a = await start(urls[0]);
  opened.push(a);
  const b = await start(urls[1]);
  opened.push(b);
  return [a, b, keyPrefix];
}

async function relayToRedis(): Promise<TcpRelay> {
  const relay = await createTcpRelay({ port: REDIS_PORT });
  opened.push(relay);
  return relay;
}

exactInBursts('Redis', async () => {
  const [a, b] = await replicas({});
  return { a, b };
});

describe('a replica whose Redis subscription drops', () => {
  it('says so, and once subscribed again drops its key cache (it may have missed a block)', async () => {
    const relay = await relayToRedis();
    // B reaches Redis through the relay; a 60 s cache would otherwise serve the key for a minute.
    const [a, b, keyPrefix] = await replicas({ cacheTtlMs: 60_000 }, [REDIS_URL, `redis://127.0.0.1:${relay.port}`]);
    // Both replicas are subscribed before the fault.
    const redis = new Redis(REDIS_URL);
    opened.push({ close: () => redis.quit() });
    await until(async () => ((await redis.pubsub('NUMSUB', `${keyPrefix}keys`)) as [string, number])[1] === 2, 10_000);
    const key = await newKey(a, {});
    expect((await post(b, key)).status).toBe(200); // cached on B
    relay.setMode('refuse');
    relay.reset();
    await until(async () => b.logs.some((l) => l.includes('lost the Redis subscription to key changes')), 10_000);
    // Blocked on A while B cannot hear it.
    const blocked = await fetch(`${a.url}/key/block`, { method: 'POST', headers: { 'x-api-key': MASTER_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
    expect(blocked.status).toBe(200);
    expect((await post(b, key)).status).toBe(200); // B still serves its cached copy
    relay.setMode('pass');
    await until(async () => b.logs.some((l) => l.includes('subscribed to key changes through Redis again')), 15_000);
    const res = await post(b, key);
    expect([res.status, ((await res.json()) as any).error.message]).toEqual([401, 'this API key is blocked']);
  });
});
