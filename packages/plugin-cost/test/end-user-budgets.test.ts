import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type RequestContext } from '@tollgate/core';
import type { Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { EndUserBudgets } from '../src/end-user-budgets.js';
import { EndUserStore, type EndUser } from '../src/end-user-store.js';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { RunningTotals } from '../src/spend-totals.js';
import type { SpendRow } from '../src/spend-row.js';

const DAY = 86_400_000;
const TODAY = Date.UTC(2026, 5, 10);
const log = createLogger({ level: 'silent' });

function row(id: string, endUser: string, spend: bigint, startTime: number): SpendRow {
  return {
    request_id: id, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'claude-haiku-4-5',
    api_key: 'k1', key_alias: null, user_id: null, team_id: null, end_user: endUser, request_tags: [], status: 200,
    prompt_tokens: 10, completion_tokens: 5, input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
    service_tier: null, inference_geo: null, speed: null, spend, unpriced: false, stream: false, aborted: false,
    batch_id: null, start_time: startTime, end_time: startTime + 100, completion_start_time: null,
    session_id: null, agent_id: null, client: null, billing: 'subscription', budget_exempt: false, served_model: null, estimated: false, upstream: null,
  };
}

const user = (userId: string, fields: Partial<EndUser> = {}): EndUser => ({
  userId, alias: null, blocked: false, maxBudget: null, budgetDuration: null, budgetStart: null, createdAt: TODAY, updatedAt: TODAY, ...fields,
});

/** What check() reads of a request: its end user and route. */
const message = (endUser: string) => ({ endUser, route: { kind: 'messages', models: ['claude-haiku-4-5'] } }) as unknown as RequestContext;
const refusal = (budgets: EndUserBudgets, endUser: string) => {
  try {
    budgets.check(message(endUser));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

const opened: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function open(driver: 'sqlite' | 'postgres', rollups = true): Promise<{ storage: Storage; ledger: LedgerStore; store: EndUserStore; tdb: TestDatabase }> {
  const tdb = await createTestDatabase(driver);
  opened.push(() => tdb.drop());
  const storage = await tdb.open();
  opened.push(() => storage.close());
  await storage.migrate('cost', ledgerMigrations);
  return { storage, ledger: new LedgerStore(storage, { rows: 'all', rollups }), store: new EndUserStore(storage), tdb };
}

describe.each(DRIVERS.flatMap((d) => [[d, true], [d, false]] as const))('end-user budget spend from the ledger on %s (rollups: %s)', (driver, rollups) => {
  it('counts a window of whole UTC days from the ledger, all of it without a duration, then what is booked', async () => {
    const { ledger, store } = await open(driver, rollups);
    await ledger.insert(ledgerBatch([
      row('y1', 'daily', 5_000n, TODAY - 1), // yesterday: not in today's window
      row('t1', 'daily', 7_000n, TODAY),
      row('y2', 'ever', 5_000n, TODAY - 40 * DAY),
      row('t2', 'ever', 7_000n, TODAY + 3_600_000),
    ]));
    await store.insert(user('daily', { maxBudget: '0.00000002', budgetDuration: '1d', budgetStart: TODAY - 3 * DAY }));
    await store.insert(user('ever', { maxBudget: '0.00000002' }));
    await store.insert(user('blocked-only', { blocked: true }));
    const budgets = new EndUserBudgets({ store, ledger, flush: async () => {}, log, now: () => TODAY + 7_200_000 });
    await budgets.load();
    await budgets.loadSpend();
    expect(budgets.window('daily')).toEqual({ spend: 7_000n, resetAt: TODAY + DAY });
    expect(budgets.window('ever')).toEqual({ spend: 12_000n, resetAt: null });
    expect(budgets.window('blocked-only')).toBeUndefined();
    expect(refusal(budgets, 'blocked-only')).toBe('end user "blocked-only" is blocked');

    budgets.add(row('t3', 'daily', 13_000n, TODAY + 7_000_000));
    budgets.add(row('late', 'daily', 99_000n, TODAY - 10)); // a request of yesterday, booked today
    expect(budgets.window('daily')!.spend).toBe(20_000n);
    expect(refusal(budgets, 'daily')).toBe('budget exceeded for end user "daily": spent $0.00000002 of its $0.00000002 budget (it resets at 2026-06-11T00:00:00.000Z)');
    expect(refusal(budgets, 'ever')).toBeUndefined();
  });
});

describe('end-user budgets in memory', () => {
  it('are never evicted with the bounded running totals, and a new window starts at zero', async () => {
    const { ledger, store } = await open('sqlite');
    let now = TODAY + 1000;
    const budgets = new EndUserBudgets({ store, ledger, flush: async () => {}, log, now: () => now });
    const totals = new RunningTotals({ maxEndUsers: 3 });
    totals.onEndUserSpend((r) => budgets.add(r));
    const capped = user('capped', { maxBudget: '1', budgetDuration: '1d', budgetStart: TODAY });
    await store.insert(capped);
    await budgets.set(capped);
    totals.add(row('c1', 'capped', 600_000_000_000n, now));
    for (let i = 0; i < 50; i++) totals.add(row(`o${i}`, `other-${i}`, 1n, now));
    totals.add(row('c2', 'capped', 400_000_000_000n, now));
    for (let i = 50; i < 100; i++) totals.add(row(`o${i}`, `other-${i}`, 1n, now));
    // Gone from the bounded totals, still counted whole for its budget.
    expect(totals.get('end_user', 'capped')).toBe(0n);
    expect(budgets.window('capped')).toEqual({ spend: 1_000_000_000_000n, resetAt: TODAY + DAY });
    expect(refusal(budgets, 'capped')).toMatch(/^budget exceeded for end user "capped": spent \$1 of its \$1 budget/);

    now = TODAY + DAY + 5;
    expect(refusal(budgets, 'capped')).toBeUndefined();
    expect(budgets.window('capped')).toEqual({ spend: 0n, resetAt: TODAY + 2 * DAY });
  });

  it('reads the ledger afresh when a budget is set, after writing what is queued', async () => {
    const { ledger, store } = await open('sqlite');
    const queued: SpendRow[] = [row('q1', 'late', 3_000n, TODAY)];
    const flush = async () => void (await ledger.insert(ledgerBatch(queued.splice(0))));
    const budgets = new EndUserBudgets({ store, ledger, flush, log, now: () => TODAY + 1000 });
    await budgets.set(user('late', { maxBudget: '0.000000003' }));
    expect(budgets.window('late')!.spend).toBe(3_000n);
    expect(queued).toEqual([]);
  });
});

describe('end-user budgets across replicas on PostgreSQL', () => {
  it("pick up a budget set through another replica, and the spend it committed, on refresh", async () => {
    const { ledger, store, tdb } = await open('postgres');
    const other = await tdb.open();
    opened.push(() => other.close());
    const a = new EndUserBudgets({ store, ledger, flush: async () => {}, log });
    const b = new EndUserBudgets({ store: new EndUserStore(other), ledger: new LedgerStore(other), flush: async () => {}, log });
    await a.load();
    await b.load();
    const shared = user('shared', { maxBudget: '0.00000001' });
    await store.insert(shared);
    await a.set(shared);
    expect(refusal(b, 'shared')).toBeUndefined();
    await b.refresh();
    expect(b.window('shared')).toEqual({ spend: 0n, resetAt: null });

    // Each books and commits its own rows: A $0.000000006, B $0.000000002.
    const byA = row('a1', 'shared', 6_000n, Date.now());
    const byB = row('b1', 'shared', 2_000n, Date.now());
    a.add(byA);
    b.add(byB);
    await ledger.insert(ledgerBatch([byA, byB]));
    expect(b.window('shared')!.spend).toBe(2_000n);
    await b.refresh();
    expect(b.window('shared')!.spend).toBe(8_000n);
    // Booked here after the read: counted on top of it at once.
    b.add(row('b2', 'shared', 3_000n, Date.now()));
    expect(b.window('shared')!.spend).toBe(11_000n);
    expect(refusal(b, 'shared')).toMatch(/^budget exceeded for end user "shared": spent \$0\.000000011/);

    // Deleted through A: B stops enforcing it on its next refresh.
    await store.delete(['shared']);
    a.remove(['shared']);
    await b.refresh();
    expect(refusal(b, 'shared')).toBeUndefined();
  });
});
