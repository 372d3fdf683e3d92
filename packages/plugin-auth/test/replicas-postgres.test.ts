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
import { exactInBursts, insideMinute, newKey, PARAMS, post } from './replica-suite.js';


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

const slotsOf = async (direct: Storage, key: string) =>
  Number((await sql<{ n: string }>`select count(*) as n from tollgate_limit_slots where token = ${hashKey(key)}`.execute(direct.db)).rows[0]!.n);

exactInBursts('PostgreSQL (no Redis)', async () => {
  const { a, b, direct } = await replicas();
  return { a, b, slotsFreed: (key) => until(async () => (await slotsOf(direct, key)) === 0, 5000) };
});

describe('limits shared through PostgreSQL (no Redis) across replicas', () => {
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
