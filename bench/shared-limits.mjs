// What a shared admission costs: the round trip of one call to the shared counters
// (PostgreSQL's tollgate_limits_admit, Redis's script), and the latency it adds to a request
// through a gateway on PostgreSQL with a limited key, next to a key without limits.
//   node bench/shared-limits.mjs [--calls=N] [--requests=N]
// Needs the test PostgreSQL (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
// and Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379); each run uses a schema and key
// prefix of its own and removes them. Run after `npx tsc -b`.
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { startTestGateway } from '../packages/core/dist/testing.js';
import authPlugin from '../packages/plugin-auth/dist/index.js';
import { keyMigrations } from '../packages/plugin-auth/dist/key-store.js';
import { PostgresCounters } from '../packages/plugin-auth/dist/shared-postgres.js';
import { sharedLimitsMigrations } from '../packages/plugin-auth/dist/shared-postgres-schema.js';
import { RedisCounters } from '../packages/plugin-auth/dist/shared-redis.js';
import storagePlugin, { sql } from '../packages/storage/dist/index.js';
import { createTestDatabase } from '../packages/storage/dist/testing.js';
import { createMockUpstream } from '../packages/testing/dist/index.js';

const { Redis } = createRequire(new URL('../packages/plugin-auth/package.json', import.meta.url))('ioredis');
const { values: args } = parseArgs({ options: { calls: { type: 'string', default: '5000' }, requests: { type: 'string', default: '2000' } } });
const CALLS = Number(args.calls);
const REQUESTS = Number(args.requests);
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MASTER_KEY = 'sk-tg-master-bench-shared';
const PARAMS = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] });

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const summary = (ms) => {
  const s = [...ms].sort((x, y) => x - y);
  return { p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99) };
};
const fmt = (x) => x.toFixed(3);
const row = (name, ms) => {
  const { p50, p90, p99 } = summary(ms);
  console.log(`| ${name} | ${fmt(p50)} | ${fmt(p90)} | ${fmt(p99)} |`);
  return p50;
};

/** Times `call` n times in a row (after a warm-up); `after` runs untimed after each. */
async function time(n, call, after = async () => undefined) {
  for (let i = 0; i < Math.min(500, n); i++) await after(await call(i));
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const got = await call(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await after(got);
  }
  return out;
}

/** Round trips of one call, sequential, in this process. */
async function roundTrips() {
  const db = await createTestDatabase('postgres');
  const storage = await db.open();
  const redis = new Redis(REDIS_URL);
  try {
    await storage.migrate('auth', { ...keyMigrations, ...sharedLimitsMigrations });
    const pool = storage.openPool({ max: 4, queryTimeoutMs: 500 });
    const pg = new PostgresCounters(pool, { slotTtlMs: 30_000, timeoutMs: 500 });
    const rc = new RedisCounters(redis, { keyPrefix: `tollgate-bench-${randomBytes(4).toString('hex')}:`, slotTtlMs: 30_000 });
    const rpmOnly = { token: 'a'.repeat(64), rpmLimit: 1e9, tpmLimit: null, maxParallelRequests: null, budgetLine: undefined };
    const all = { token: 'b'.repeat(64), rpmLimit: 1e9, tpmLimit: 1e9, maxParallelRequests: 1e6, budgetLine: 10n ** 15n };
    await pg.seedSpend(all.token, 0n);
    await rc.seedSpend(all.token, 0n);
    console.log(`| one call, ${CALLS.toLocaleString('en')} in a row (ms) | p50 | p90 | p99 |`);
    console.log('|:---|---:|---:|---:|');
    row('PostgreSQL `select 1` (the round trip itself)', await time(CALLS, () => sql`select 1`.execute(pool)));
    row('PostgreSQL admit, rpm_limit', await time(CALLS, () => pg.admit({ ...rpmOnly, now: Date.now() }, undefined)));
    // Each slot is released (untimed) before the next admission, as a request would.
    const withSlot = (counters) => () => {
      const slot = randomUUID();
      return counters.admit({ ...all, now: Date.now() }, slot).then(() => slot);
    };
    row('PostgreSQL admit, rpm + tpm + parallel + budget', await time(CALLS, withSlot(pg), (slot) => pg.release(all.token, slot, 0, Date.now())));
    row('PostgreSQL release (slot and tokens)', await time(CALLS, () => pg.release(all.token, randomUUID(), 10, Date.now())));
    row('Redis `PING`', await time(CALLS, () => redis.ping()));
    row('Redis admit, rpm_limit', await time(CALLS, () => rc.admit({ ...rpmOnly, now: Date.now() }, undefined)));
    row('Redis admit, rpm + tpm + parallel + budget', await time(CALLS, withSlot(rc), (slot) => rc.release(all.token, slot, 0, Date.now())));
    await pool.destroy();
  } finally {
    redis.disconnect();
    await storage.close();
    await db.drop();
  }
}

/** One request at a time through a gateway on PostgreSQL, a key without limits and a limited one interleaved. */
async function gateway(label, sharedLimits) {
  const db = await createTestDatabase('postgres');
  const mock = await createMockUpstream();
  const t = await startTestGateway({
    upstream: mock,
    config: {
      log: { level: 'warn' },
      plugins: [
        { use: '@tollgate/storage', config: db.options },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY, sharedLimits } },
      ],
    },
    modules: { '@tollgate/plugin-auth': authPlugin, '@tollgate/storage': storagePlugin },
    adminKey: MASTER_KEY,
    graceMs: 0,
    cleanup: [() => mock.close(), () => db.drop()],
  });
  try {
    const plain = (await t.admin('POST', '/key/generate', {})).body.key;
    const limited = (await t.admin('POST', '/key/generate', { rpm_limit: 1_000_000, max_parallel_requests: 1000 })).body.key;
    const send = async (key) => {
      const res = await fetch(`${t.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: PARAMS });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    };
    const times = { plain: [], limited: [] };
    // Interleaved, so drift on a shared machine hits both alike.
    const all = await time(REQUESTS * 2, (i) => send(i % 2 === 0 ? plain : limited));
    all.forEach((ms, i) => times[i % 2 === 0 ? 'plain' : 'limited'].push(ms));
    const a = row(`${label}: key without limits`, times.plain);
    const b = row(`${label}: key with rpm_limit + max_parallel_requests`, times.limited);
    console.log(`| ${label}: added at p50 | ${fmt(b - a)} | | |`);
  } finally {
    await t.close();
  }
}

await roundTrips();
console.log();
console.log(`| gateway request, ${REQUESTS.toLocaleString('en')} per key, one at a time (ms) | p50 | p90 | p99 |`);
console.log('|:---|---:|---:|---:|');
await gateway('PostgreSQL counters', {});
await gateway('no shared counters (postgres: false)', { postgres: false });
await gateway('Redis counters', { redisUrl: REDIS_URL, keyPrefix: `tollgate-bench-${randomBytes(4).toString('hex')}:` });
