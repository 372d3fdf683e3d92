import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '@tollgate/core';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { messageStreamEvents, until } from '@tollgate/testing';
import { hashKey } from '../src/index.js';
import { keyMigrations } from '../src/key-store.js';
import { SharedLimits } from '../src/shared-limits.js';
import { PostgresCounters } from '../src/shared-postgres.js';
import { sharedLimitsMigrations } from '../src/shared-postgres-schema.js';
import { MASTER_KEY, startHarness, type Harness } from './harness.js';

const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] };

const opened: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

/**
 * Two gateways on one PostgreSQL schema and no Redis, reaching PostgreSQL at `url` (default:
 * directly); `direct` reads the shared tables.
 */
async function replicas(authConfig: Record<string, unknown> = {}, url?: string): Promise<{ a: Harness; b: Harness; direct: Storage }> {
  const db: TestDatabase = await createTestDatabase('postgres');
  opened.push({ close: () => db.drop() });
  const through = url ? { ...db, options: { ...db.options, url } } : db;
  const start = () => startHarness({ db: through, authConfig: { masterKey: MASTER_KEY, ...authConfig } });
  const a = await start();
  opened.push(a);
  const b = await start();
  opened.push(b);
  const direct = await db.open();
  opened.push(direct);
  return { a, b, direct };
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

const slotsOf = async (direct: Storage, key: string) =>
  Number((await sql<{ n: string }>`select count(*) as n from tollgate_limit_slots where token = ${hashKey(key)}`.execute(direct.db)).rows[0]!.n);

describe('limits shared through PostgreSQL (no Redis) are exact in bursts', () => {
  it('rpm_limit 10 over two replicas admits exactly 10 of a burst of 40, and none of a burst after a quiet gap', async () => {
    const { a, b } = await replicas();
    const key = await newKey(a, { rpm_limit: 10 });
    await insideMinute(30_000);
    expect(await burst([a, b], key, 40)).toEqual({ 200: 10, 429: 30 });
    // A quiet gap: nothing a replica remembers locally lets more through.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await burst([b, a], key, 20)).toEqual({ 429: 20 });
    expect(a.mock.requests.length + b.mock.requests.length).toBe(10);
  }, 90_000);

  it('max_parallel_requests 5 admits exactly 5 of 40 simultaneous streams over two replicas, again after they end, and after aborts', async () => {
    const { a, b, direct } = await replicas();
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
    await until(async () => (await slotsOf(direct, key)) === 0, 5000);
  });

  it("counts the tokens of requests that ended on one replica against tpm_limit on the other", async () => {
    const { a, b } = await replicas();
    a.mock.route('POST', '/v1/messages', { json: { id: 'm', type: 'message', role: 'assistant', model: 'x', content: [], stop_reason: 'end_turn', usage: { input_tokens: 20, output_tokens: 15 } } });
    const key = await newKey(a, { tpm_limit: 60 });
    await insideMinute(10_000);
    for (let i = 0; i < 2; i++) expect((await post(a, key)).status).toBe(200); // 70 tokens on A, none on B
    // A books a request's tokens as it completes, just after the client has its answer.
    await until(async () => (await post(b, key)).status === 429, 5000);
    const res = await post(b, key);
    expect(((await res.json()) as any).error.message).toBe('rate limit reached for this key: 60 tokens per minute');
    expect(b.mock.requests).toHaveLength(0);
  }, 90_000);

  it("frees a crashed replica's slots after slotTtlMs, and keeps a live replica's long request's slot past it", async () => {
    const { a, direct } = await replicas({ sharedLimits: { slotTtlMs: 1000 } });
    const key = await newKey(a, { max_parallel_requests: 1 });
    // A replica that crashed holding the key's one slot: it never renews it.
    await sql`insert into tollgate_limit_slots (token, slot, expires_at) values (${hashKey(key)}, gen_random_uuid(), clock_timestamp() + interval '1 second')`.execute(direct.db);
    expect((await post(a, key)).status).toBe(429);
    await until(async () => (await post(a, key)).status === 200, 10_000);

    // A stream held well past the slot TTL keeps its slot: this replica renews it.
    a.mock.once('POST', '/v1/messages', { sse: messageStreamEvents({ text: ['a', 'b', 'c', 'd', 'e', 'f'] }), eventDelayMs: 500 });
    const held = post(a, key, { ...PARAMS, stream: true });
    await a.mock.waitForRequests(2);
    // Not a synchronisation: the time itself is under test (2.5 slot TTLs pass).
    await new Promise((r) => setTimeout(r, 2500));
    expect((await post(a, key)).status).toBe(429);
    await (await held).arrayBuffer();
    await until(async () => (await slotsOf(direct, key)) === 0, 5000);
  });
});

describe('the shared tables in PostgreSQL', () => {
  it('do not grow: past minutes, expired slots and spend counters idle for a day are deleted', async () => {
    const db = await createTestDatabase('postgres');
    opened.push({ close: () => db.drop() });
    const storage = await db.open();
    opened.push(storage);
    await storage.migrate('auth', { ...keyMigrations, ...sharedLimitsMigrations });
    const minute = sql`floor(extract(epoch from clock_timestamp()) / 60)`;
    await sql`insert into tollgate_limit_windows (token, minute, requests) values ('old', ${minute} - 5, 1), ('last', ${minute} - 1, 1), ('now', ${minute}, 1)`.execute(storage.db);
    await sql`insert into tollgate_limit_slots (token, slot, expires_at) values
      ('dead', gen_random_uuid(), clock_timestamp() - interval '1 second'), ('live', gen_random_uuid(), clock_timestamp() + interval '1 minute')`.execute(storage.db);
    await sql`insert into tollgate_limit_spend (token, spend, touched_at) values
      ('idle', 5, clock_timestamp() - interval '25 hours'), ('used', 5, clock_timestamp() - interval '23 hours')`.execute(storage.db);
    const log = { info: () => undefined, warn: () => undefined } as unknown as Logger;
    const limits = new SharedLimits(new PostgresCounters(storage.db, { slotTtlMs: 30_000, timeoutMs: 1000 }), { slotTtlMs: 30_000, retryMs: 1000, log, sweepMs: 50 });
    opened.push(limits);
    const tokens = async (table: string) => (await sql<{ token: string }>`select token from ${sql.table(table)} order by token`.execute(storage.db)).rows.map((r) => r.token);
    await until(async () => (await tokens('tollgate_limit_spend')).length === 1, 5000);
    expect(await tokens('tollgate_limit_windows')).toEqual(['last', 'now']);
    expect(await tokens('tollgate_limit_slots')).toEqual(['live']);
    expect(await tokens('tollgate_limit_spend')).toEqual(['used']);
  });
});
