import { afterEach, describe, expect, it } from 'vitest';
import { sql } from '@tollgate/storage';
import { createTestDatabase, TEST_POSTGRES_URL } from '@tollgate/storage/testing';
import { createTcpRelay, until, type TcpRelay } from '@tollgate/testing';
import { hashKey } from '../src/index.js';
import { MASTER_KEY, startHarness, type Harness } from './harness.js';

const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] };

const opened: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

/** The per-minute limits: start well inside a clock minute, so what is counted does not straddle two. */
async function insideMinute(needMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 200));
}

/**
 * Without Redis, PostgreSQL decides limits; when the limits call fails, each replica counts on
 * its own (warned once per outage) rather than refusing traffic, and no request waits longer
 * than commandTimeoutMs. The replicas' whole database goes through the relay; their keys are
 * cached, so only the limits need PostgreSQL while it is out.
 */
describe.each<[string, (relay: TcpRelay) => void]>([
  ['refuse', (relay) => (relay.setMode('refuse'), relay.reset())],
  ['blackhole', (relay) => relay.setMode('blackhole')],
])('two replicas when PostgreSQL faults (%s)', (_name, fault) => {
  it('answer every request without waiting on PostgreSQL, count on their own, warn once, and share limits again once it is back', async () => {
    const relay = await createTcpRelay({ port: Number(new URL(TEST_POSTGRES_URL).port || 5432) });
    opened.push(relay);
    const db = await createTestDatabase('postgres');
    opened.push({ close: () => db.drop() });
    const url = new URL(TEST_POSTGRES_URL);
    url.host = `${relay.host}:${relay.port}`;
    const through = { ...db, options: { ...db.options, url: url.toString() } };
    const sharedLimits = { commandTimeoutMs: 1000, retryMs: 500 };
    const hs: Harness[] = [];
    for (let i = 0; i < 2; i++) {
      hs.push(await startHarness({ db: through, authConfig: { masterKey: MASTER_KEY, cacheTtlMs: 60_000, sharedLimits } }));
      opened.push(hs[i]!);
    }
    const [a, b] = hs as [Harness, Harness];
    const key = async (fields: object) =>
      ((await (await fetch(`${a.url}/key/generate`, { method: 'POST', headers: { 'x-api-key': MASTER_KEY, 'content-type': 'application/json' }, body: JSON.stringify(fields) })).json()) as { key: string }).key;
    // Room for the slots a fault strands (taken in PostgreSQL, their answer lost) until it is back.
    const limited = await key({ rpm_limit: 100_000, max_parallel_requests: 100 });
    const counted = await key({ rpm_limit: 4 });
    // A request that waited on a blackholed PostgreSQL without a bound would trip this 5 s abort.
    const send = (h: Harness, k: string) =>
      fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': k, 'content-type': 'application/json' }, body: JSON.stringify(PARAMS), signal: AbortSignal.timeout(5000) }).then(
        async (r) => (await r.arrayBuffer(), r.status),
      );
    const load = (n: number, k = limited) => Promise.all(Array.from({ length: n }, (_, i) => send(hs[i % 2]!, k)));

    await insideMinute(20_000);
    expect(new Set(await load(20))).toEqual(new Set([200]));
    // One request of `counted` on each replica (cached there): 2 of its 4 used, 1 on each replica's own count.
    expect(await load(2, counted)).toEqual([200, 200]);
    const during = load(40);
    fault(relay);
    const after = load(40);
    expect([...(await during), ...(await after)].filter((s) => s !== 200)).toEqual([]);
    for (const h of hs) await until(async () => h.logs.some((l) => l.includes('cannot reach PostgreSQL for the shared limits and budgets')), 10_000);
    // Counted by each replica on its own: 3 more on each (4 per replica), where PostgreSQL would have allowed 2 in all.
    const statuses = await load(20, counted);
    expect(statuses.filter((s) => s === 200)).toHaveLength(6);

    relay.setMode('pass');
    await until(async () => {
      await load(2);
      return hs.every((h) => h.logs.some((l) => l.includes('shared limits and budgets are decided through PostgreSQL again')));
    }, 20_000);
    // One warning per replica for the outage, one notice when it ends: no flapping on late replies.
    for (const h of hs) {
      const said = h.logs.map((l) => JSON.parse(l).msg as string).filter((m) => /cannot reach PostgreSQL|decided through PostgreSQL again/.test(m));
      expect(said.map((m) => m.slice(0, 45))).toEqual(['cannot reach PostgreSQL for the shared limits', 'shared limits and budgets are decided through']);
    }
    // Every slot is free again: those stranded by the fault were freed once PostgreSQL was back.
    const direct = await db.open();
    opened.push(direct);
    const slots = async () => Number((await sql<{ n: string }>`select count(*) as n from tollgate_limit_slots where token = ${hashKey(limited)}`.execute(direct.db)).rows[0]!.n);
    await until(async () => (await slots()) === 0, 10_000);
    // Exact again: rpm_limit 6 over both replicas admits 6 of a burst of 20.
    const fresh = await key({ rpm_limit: 6 });
    await insideMinute(10_000);
    expect((await load(20, fresh)).filter((s) => s === 200)).toHaveLength(6);
  }, 90_000);
});
