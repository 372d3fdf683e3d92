import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createTcpRelay, messageStreamEvents, until, type TcpRelay } from '@tollgate/testing';
import { MASTER_KEY, startHarness, type Harness } from './harness.js';

// The Redis every machine (CI included) runs.
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_PORT = Number(new URL(REDIS_URL).port || 6379);
const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] };

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

const post = (h: Harness, key: string, body: object = PARAMS, signal?: AbortSignal) =>
  fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

async function newKey(h: Harness, fields: object): Promise<string> {
  const res = await fetch(`${h.url}/key/generate`, { method: 'POST', headers: { 'x-api-key': MASTER_KEY, 'content-type': 'application/json' }, body: JSON.stringify(fields) });
  return ((await res.json()) as { key: string }).key;
}

/** `n` requests at once, alternating between the replicas; their statuses, counted. */
async function burst(hs: Harness[], key: string, n: number): Promise<Record<number, number>> {
  const statuses = await Promise.all(Array.from({ length: n }, (_, i) => post(hs[i % hs.length]!, key).then(async (r) => (await r.arrayBuffer(), r.status))));
  return count(statuses);
}

function count(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

/** The per-minute limits: start well inside a clock minute, so a burst does not straddle two. */
async function insideMinute(needMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 200));
}

describe('limits shared through Redis are exact in bursts', () => {
  it('rpm_limit 10 over two replicas admits exactly 10 of a burst of 40, and none of a burst after a quiet gap', async () => {
    const [a, b] = await replicas({});
    const key = await newKey(a, { rpm_limit: 10 });
    await insideMinute(30_000);
    expect(await burst([a, b], key, 40)).toEqual({ 200: 10, 429: 30 });
    // A quiet gap: nothing a replica remembers locally lets more through.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await burst([b, a], key, 20)).toEqual({ 429: 20 });
    expect(a.mock.requests.length + b.mock.requests.length).toBe(10);
  }, 90_000);

  it('max_parallel_requests 5 admits exactly 5 of 40 simultaneous streams over two replicas, again after they end, and after aborts', async () => {
    const [a, b] = await replicas({});
    const key = await newKey(a, { max_parallel_requests: 5 });
    // Streams that last a while (10 events, 150 ms apart): the whole burst arrives while they run.
    const slow = { sse: messageStreamEvents({ text: Array.from({ length: 10 }, (_, i) => `w${i}`) }), eventDelayMs: 150 };
    a.mock.route('POST', '/v1/messages', slow);
    b.mock.route('POST', '/v1/messages', slow);
    const stream = { ...PARAMS, stream: true };
    const streams = async (abort: boolean) => {
      const controllers = Array.from({ length: 40 }, () => new AbortController());
      const responses = await Promise.all(controllers.map((c, i) => post(i % 2 ? b : a, key, stream, c.signal)));
      const statuses = responses.map((r) => r.status);
      await Promise.all(
        responses.map(async (r, i) => {
          if (abort && r.status === 200) return controllers[i]!.abort();
          await r.arrayBuffer();
        }),
      );
      return count(statuses);
    };
    expect(await streams(false)).toEqual({ 200: 5, 429: 35 });
    // Every stream has ended, so every slot is free again.
    expect(await streams(false)).toEqual({ 200: 5, 429: 35 });
    // Aborted by their clients: the slots are freed as the gateway sees the aborts.
    expect(await streams(true)).toEqual({ 200: 5, 429: 35 });
    await until(async () => a.completed.length + b.completed.length === 120, 10_000);
    expect(await streams(false)).toEqual({ 200: 5, 429: 35 });
  });
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
