import { afterEach, describe, expect, it } from 'vitest';
import type { Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { ledgerBatch, LedgerStore, ledgerMigrations } from '../src/ledger-store.js';
import { RunningTotals } from '../src/spend-totals.js';
import type { SpendRow } from '../src/spend-row.js';

function row(id: string, spend: bigint, extra: Partial<SpendRow> = {}): SpendRow {
  return {
    request_id: id, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'claude-haiku-4-5',
    api_key: 'k1', key_alias: null, user_id: 'u1', team_id: 't1', end_user: 'e1', request_tags: [], status: 200,
    prompt_tokens: 10, completion_tokens: 5, input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
    service_tier: null, inference_geo: null, speed: null, spend, unpriced: false, stream: false, aborted: false,
    batch_id: null, start_time: 1_700_000_000_000, end_time: 1_700_000_000_100, completion_start_time: null,
    session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null, ...extra,
  };
}

/** `n` distinct 2 KB tags, as an attacker would send them (they cost no tokens). */
const tags = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}-`.padEnd(2048, 'x'));

describe('running totals stay bounded whatever tags and end users callers send', () => {
  it('keep no entry per tag, and at most maxEndUsers end users (the most recently booked), with exact sums', () => {
    const totals = new RunningTotals({ maxEndUsers: 1000 });
    // The probe: 100 requests carrying 500 unique 2 KB tags each; here also a new end user each, 30,000 in all.
    for (let i = 0; i < 100; i++) totals.add(row(`t${i}`, 5n, { request_tags: tags(`r${i}`, 500), end_user: `tagged-${i}` }));
    for (let i = 0; i < 29_900; i++) totals.add(row(`e${i}`, 3n, { end_user: `user-${i}` }));
    expect(totals.size()).toEqual({ keys: 1, endUsers: 1000, sharedKeys: 0 });
    expect(totals.keySpend('k1')).toBe(100n * 5n + 29_900n * 3n);
    expect([totals.get('end_user', 'user-29899'), totals.get('end_user', 'user-28900'), totals.get('end_user', 'user-28899'), totals.get('end_user', 'tagged-0')]).toEqual([3n, 3n, 0n, 0n]);
    // Booking again makes an end user the most recent: it outlives the next 999 newcomers.
    totals.add(row('again', 4n, { end_user: 'user-28900' }));
    for (let i = 0; i < 999; i++) totals.add(row(`n${i}`, 1n, { end_user: `newcomer-${i}` }));
    expect([totals.get('end_user', 'user-28900'), totals.get('end_user', 'user-29899'), totals.size().endUsers]).toEqual([7n, 0n, 1000]);
  });

  it('holds 10,000 end users by default', () => {
    const totals = new RunningTotals();
    for (let i = 0; i < 25_000; i++) totals.add(row(`e${i}`, 1n, { end_user: `user-${i}` }));
    expect(totals.size().endUsers).toBe(10_000);
  });
});

describe.each(DRIVERS)('running totals loaded from a ledger on %s', (driver) => {
  let tdb: TestDatabase;
  let storage: Storage;
  afterEach(async () => {
    await storage?.close();
    await tdb?.drop();
  });

  it('load the keys only: no tag or end user of the ledger is read into memory at start', async () => {
    tdb = await createTestDatabase(driver);
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage);
    const rows = Array.from({ length: 300 }, (_, i) => row(`r${i}`, 7n, { api_key: i % 2 ? 'k1' : 'k2', end_user: `user-${i}`, request_tags: tags(`r${i}`, 2) }));
    await store.insert(ledgerBatch(rows));
    const totals = new RunningTotals();
    await totals.load(store);
    expect(totals.size()).toEqual({ keys: 2, endUsers: 0, sharedKeys: 0 });
    expect([totals.keySpend('k1'), totals.keySpend('k2')]).toEqual([1050n, 1050n]);
  });
});

describe('shared key spend on PostgreSQL', () => {
  let tdb: TestDatabase;
  let storage: Storage;
  afterEach(async () => {
    await storage?.close();
    await tdb?.drop();
  });

  it('is read when older than maxAgeMs (one read for concurrent asks), and counts what this instance booked since', async () => {
    tdb = await createTestDatabase('postgres');
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage);
    const totals = new RunningTotals({ shared: store, maxAgeMs: 60_000 });
    // Another replica's committed rows.
    await store.insert(ledgerBatch([row('other-1', 100n), row('other-2', 50n)]));
    expect(totals.keySpend('k1')).toBe(0n);
    const first = totals.freshen('k1');
    expect(first).toBeInstanceOf(Promise);
    expect(totals.freshen('k1')).toBe(first);
    await first;
    expect(totals.keySpend('k1')).toBe(150n);
    expect(totals.freshen('k1')).toBeUndefined(); // fresh for maxAgeMs
    // Booked here (not yet committed) on top of the committed spend.
    totals.add(row('mine', 20n));
    expect(totals.keySpend('k1')).toBe(170n);
    // Once committed, a fresh read counts it once.
    await store.insert(ledgerBatch([row('mine', 20n)]));
    await totals.freshen('k1', 0);
    expect(totals.keySpend('k1')).toBe(170n);
    expect(totals.size().sharedKeys).toBe(1);
  });
});
