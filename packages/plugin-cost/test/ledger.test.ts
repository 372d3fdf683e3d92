import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@tollgate/core';
import { sql, type Kysely, type Storage } from '@tollgate/storage';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { batchRows, ledgerBatch, LedgerStore, ledgerEntry, ledgerMigrations, LOG_COLUMNS } from '../src/ledger-store.js';
import { REJECT_FILE, SpendWriter } from '../src/spend-writer.js';
import { RunningTotals } from '../src/spend-totals.js';
import type { SpendRow } from '../src/spend-row.js';
import { until } from '@tollgate/testing';

const silent = createLogger({ level: 'silent', destination: { write: () => {} } });

function row(id: string, spend: bigint, extra: Partial<SpendRow> = {}): SpendRow {
  return {
    request_id: id, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'claude-haiku-4-5',
    api_key: 'k1', key_alias: null, user_id: 'u1', team_id: 't1', end_user: 'e1', request_tags: ['a', 'b'], status: 200,
    prompt_tokens: 10, completion_tokens: 5, input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
    service_tier: null, inference_geo: null, speed: null, spend, unpriced: false, stream: false, aborted: false,
    batch_id: null, start_time: 1_700_000_000_000, end_time: 1_700_000_000_100, completion_start_time: null,
    session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null, ...extra,
  };
}

const count = async (s: Storage) => Number((await sql<{ n: number }>`select count(*) as n from tollgate_spend_logs`.execute(s.db)).rows[0].n);

describe('ledger entries', () => {
  it('encode a row once as the JSON the writer takes, and decode back to the same row', () => {
    const r = row('e1', 9_000_000_000_000_000n, { request_tags: ['a', 'b"c'], unpriced: true, stream: true, service_tier: 'batch', completion_start_time: 1_700_000_000_050 });
    const plain = row('e2', 1n, { request_tags: [], key_alias: 'caf\u00e9 \u2713' });
    const batch = ledgerBatch([r, plain]);
    expect(batch.count).toBe(2);
    expect(batchRows(batch)).toEqual([r, plain]);
    expect(JSON.parse(Buffer.from(batch.tags!).toString())).toEqual([['e1', 'a', r.start_time], ['e1', 'b"c', r.start_time]]);
    expect(ledgerEntry(plain).tags).toBe('');
    expect(ledgerBatch([plain]).tags).toBeUndefined();
  });
});

describe.each(DRIVERS)('spend ledger on %s', (driver) => {
  let tdb: TestDatabase;
  let storage: Storage;
  afterEach(async () => {
    await storage?.close();
    await tdb?.drop();
  });

  async function open() {
    tdb = await createTestDatabase(driver);
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
    return new LedgerStore(storage);
  }

  it('inserts idempotently and sums exactly, beyond 2^53 pico-dollars', async () => {
    const store = await open();
    const big = 9_000_000_000_000_000n; // $9,000 in pico: above Number.MAX_SAFE_INTEGER
    await store.insert(ledgerBatch([row('r1', big), row('r2', 3n, { api_key: 'k2', request_tags: ['a'] })]));
    await store.insert(ledgerBatch([row('r1', big)]));
    expect(await count(storage)).toBe(2);
    expect((await store.totalsBy('api_key')).get('k1')).toBe(big);
    const tags = await store.totalsBy('tag');
    expect([tags.get('a'), tags.get('b')]).toEqual([big + 3n, big]);
    expect((await store.totalsBy('end_user')).get('e1')).toBe(big + 3n);
    // Past 2^63 pico-dollars (~$9.2M), where SQLite's integer sum() would overflow.
    const huge = 5_000_000_000_000_000_000n;
    await store.insert(ledgerBatch([row('h1', huge, { api_key: 'whale' }), row('h2', huge, { api_key: 'whale' })]));
    expect((await store.totalsBy('api_key')).get('whale')).toBe(2n * huge);
  });

  it('writes queued rows within the flush interval, and keeps totals loaded from the ledger', async () => {
    const store = await open();
    const dir = await mkdtemp(join(tmpdir(), 'tg-spool-'));
    const writer = new SpendWriter({ write: (r) => store.insert(r), spoolFile: join(dir, 'spool.jsonl'), log: silent, flushIntervalMs: 50, batchSize: 100, maxRetryMs: 200 });
    await writer.start();
    for (let i = 0; i < 250; i++) writer.enqueue(row(`q${i}`, 7n));
    await until(async () => (await count(storage)) === 250, 2000);
    const totals = new RunningTotals();
    await totals.load(store);
    expect(totals.keySpend('k1')).toBe(1750n);
    await writer.close();
  });

  it('keeps a row the database refuses out of the ledger, in the rejected-rows file, and writes every other row', async () => {
    const store = await open();
    const dir = await mkdtemp(join(tmpdir(), 'tg-spool-'));
    const writer = new SpendWriter({ write: (r) => store.insert(r), isRowError: (e) => store.isRowError(e), spoolFile: join(dir, 'spool.jsonl'), log: silent, flushIntervalMs: 60_000, batchSize: 100, maxRetryMs: 200 });
    await writer.start();
    // start_time is NOT NULL in both engines: the database refuses this row, not the batch's others.
    const bad = row('bad', 5n, { start_time: null as unknown as number });
    for (const r of [row('g1', 1n), bad, row('g2', 2n)]) writer.enqueue(r);
    await writer.flush();
    expect(writer.state()).toMatchObject({ rejected: 1, spooled: 0, healthy: true });
    expect(await count(storage)).toBe(2);
    const [kept] = (await readFile(join(dir, REJECT_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(kept.row).toMatchObject({ request_id: 'bad', spend: '5' });
    expect(kept.error).toMatch(/null/i);
    // The ledger carries on.
    writer.enqueue(row('g3', 3n));
    await writer.close();
    expect(await count(storage)).toBe(3);
  });

  it('flush() writes queued rows at once, long before the flush interval, and the writer carries on after it', async () => {
    const store = await open();
    const dir = await mkdtemp(join(tmpdir(), 'tg-spool-'));
    const writer = new SpendWriter({ write: (r) => store.insert(r), spoolFile: join(dir, 'spool.jsonl'), log: silent, flushIntervalMs: 60_000, batchSize: 100, maxRetryMs: 200 });
    await writer.start();
    for (let i = 0; i < 150; i++) writer.enqueue(row(`f${i}`, 1n));
    const started = Date.now();
    await writer.flush();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await count(storage)).toBe(150);
    expect(writer.state().queued).toBe(0);
    await writer.flush(); // nothing queued: a no-op
    writer.enqueue(row('after', 1n));
    await writer.close();
    expect(await count(storage)).toBe(151);
  });

  it('flush() during an outage leaves the rows in the spool file, from which they reach the database', async () => {
    const store = await open();
    const dir = await mkdtemp(join(tmpdir(), 'tg-spool-'));
    const writer = new SpendWriter({ write: (r) => store.insert(r), spoolFile: join(dir, 'spool.jsonl'), log: silent, flushIntervalMs: 60_000, batchSize: 100, maxRetryMs: 50 });
    await writer.start();
    await sql`alter table tollgate_spend_logs rename to tollgate_spend_logs_away`.execute(storage.db);
    for (let i = 0; i < 20; i++) writer.enqueue(row(`d${i}`, 1n));
    await writer.flush();
    expect(writer.state()).toMatchObject({ queued: 0, spooled: 20, healthy: false });
    await sql`alter table tollgate_spend_logs_away rename to tollgate_spend_logs`.execute(storage.db);
    await until(() => writer.state().healthy);
    expect(await count(storage)).toBe(20);
    await writer.close();
  });

  it("keeps every key's committed spend in the database on PostgreSQL, exactly once per row, and nothing on SQLite", async () => {
    const store = await open();
    const huge = 6_000_000_000_000_000_000n; // past 2^63 pico-dollars once doubled
    await store.insert(ledgerBatch([row('s1', 5n), row('s2', huge, { api_key: 'whale' }), row('s3', 0n), row('s4', 9n, { api_key: null })]));
    // A replay of rows already there (the spool after an ambiguous failure) adds nothing.
    await store.insert(ledgerBatch([row('s1', 5n), row('s5', huge, { api_key: 'whale' })]));
    const shared = await store.sharedKeySpend(['k1', 'whale', 'nobody']);
    if (driver === 'sqlite') {
      expect(shared).toBeUndefined();
      return;
    }
    expect(shared).toEqual(new Map([['k1', 5n], ['whale', 2n * huge]]));
    // Repricing a row moves its key's spend by the difference.
    await sql`update tollgate_spend_logs set spend = 12 where request_id = 's3'`.execute(storage.db);
    expect((await store.sharedKeySpend(['k1']))!.get('k1')).toBe(17n);
  });

  it.runIf(driver === 'postgres')('fills the shared key spend from the rows written before it existed (PostgreSQL only: SQLite has none)', async () => {
    tdb = await createTestDatabase(driver);
    storage = await tdb.open();
    // The ledger as it was before 004: rows written with the columns it had then.
    const before = Object.fromEntries(Object.entries(ledgerMigrations).filter(([name]) => name < '004'));
    await storage.migrate('cost', before);
    for (const [id, key, spend] of [['b1', 'k1', 7], ['b2', 'k1', 8], ['b3', 'k2', 1]] as const) {
      await sql`insert into tollgate_spend_logs (request_id, api_key, spend, start_time, end_time) values (${id}, ${key}, ${spend}, 1, 2)`.execute(storage.db);
    }
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage);
    expect(await store.sharedKeySpend(['k1', 'k2'])).toEqual(new Map([['k1', 15n], ['k2', 1n]]));
    await store.insert(ledgerBatch([row('b4', 5n)]));
    expect((await store.sharedKeySpend(['k1']))!.get('k1')).toBe(20n);
  });

  it('lists batches created through the gateway that are not settled, oldest first, within the window', async () => {
    const store = await open();
    const create = (id: string, batchId: string, at: number) => row(id, 0n, { call_type: 'batches', batch_id: batchId, start_time: at, end_time: at });
    await store.insert(
      ledgerBatch([
        create('c1', 'msgbatch_old', 1_000),
        create('c2', 'msgbatch_b', 3_000),
        create('c3', 'msgbatch_a', 2_000),
        create('c4', 'msgbatch_done', 2_500),
        // A result row carries its batch's id too, but is no create call.
        row('msgbatch_x:r1', 5n, { call_type: 'batch_result', batch_id: 'msgbatch_x', start_time: 2_000 }),
        // Other batch calls (list, retrieve, …) have no batch_id.
        row('l1', 0n, { call_type: 'batches', start_time: 2_000 }),
      ]),
    );
    await store.markSettled('msgbatch_done', 'ended', 3);
    await store.markSettled('msgbatch_done', 'gone', 0); // idempotent: the first word stands
    expect(await store.unsettledBatches(1_500, 100)).toEqual(['msgbatch_a', 'msgbatch_b']);
    expect(await store.unsettledBatches(0, 2)).toEqual(['msgbatch_old', 'msgbatch_a']);
    const marks = (await sql<Record<string, unknown>>`select batch_id, outcome, results_booked from tollgate_batch_settlements`.execute(storage.db)).rows;
    expect(marks).toEqual([{ batch_id: 'msgbatch_done', outcome: 'ended', results_booked: 3 }]);
  });

  it('under a steady stream of rows, writes full batches, and a partial one only when its oldest row is due', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tg-spool-'));
    const writes: { size: number; waitedMs: number }[] = [];
    const arrived = new Map<string, number>();
    const enqueue = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        arrived.set(`t${i}`, Date.now());
        writer.enqueue(row(`t${i}`, 1n));
      }
    };
    const writer = new SpendWriter({
      // A database that takes 10 ms per write, and 80 more rows arrive while it takes the first batch.
      write: async (batch) => {
        writes.push({ size: batch.count, waitedMs: Date.now() - arrived.get(batchRows(batch)[0]!.request_id)! });
        if (writes.length === 1) enqueue(50, 130);
        await new Promise((r) => setTimeout(r, 10));
      },
      spoolFile: join(dir, 'spool.jsonl'), log: silent, flushIntervalMs: 1000, batchSize: 50, maxRetryMs: 200,
    });
    await writer.start();
    enqueue(0, 50);
    // queued counts the rows being written: 0 only once the last write finished.
    await until(() => writer.state().queued === 0, 5000);
    expect(writes.reduce((n, w) => n + w.size, 0)).toBe(130);
    await writer.close();
    // Not a write per handful of rows that came in during the previous write.
    expect(writes.map((w) => w.size)).toEqual([50, 50, 30]);
    // The partial batch waited for its flush interval; full ones did not.
    expect(writes[2]!.waitedMs).toBeGreaterThanOrEqual(999);
    expect(writes[1]!.waitedMs).toBeLessThan(999);
  });

  it('survives a database outage under load: rows spool to disk and all arrive exactly once afterwards', async () => {
    const store = await open();
    const dir = await mkdtemp(join(tmpdir(), 'tg-spool-'));
    const spoolFile = join(dir, 'spool.jsonl');
    const writer = new SpendWriter({ write: (r) => store.insert(r), spoolFile, log: silent, flushIntervalMs: 20, batchSize: 50, maxRetryMs: 100 });
    await writer.start();
    // A real outage: the table the writer needs is gone.
    await sql`alter table tollgate_spend_logs rename to tollgate_spend_logs_away`.execute(storage.db);
    for (let i = 0; i < 1000; i++) writer.enqueue(row(`o${i}`, 1n));
    await until(() => writer.state().spooled === 1000);
    expect(writer.state()).toMatchObject({ queued: 0, spooled: 1000, healthy: false });
    expect(writer.state().writeFailures).toBeGreaterThan(0);
    await sql`alter table tollgate_spend_logs_away rename to tollgate_spend_logs`.execute(storage.db);
    await until(() => writer.state().healthy);
    expect(await count(storage)).toBe(1000);
    expect((await store.totalsBy('api_key')).get('k1')).toBe(1000n);
    await writer.close();
  });

  it('replays a spool left by a run that stopped while the database was down', async () => {
    const store = await open();
    const dir = await mkdtemp(join(tmpdir(), 'tg-spool-'));
    const spoolFile = join(dir, 'spool.jsonl');
    await sql`alter table tollgate_spend_logs rename to tollgate_spend_logs_away`.execute(storage.db);
    const first = new SpendWriter({ write: (r) => store.insert(r), spoolFile, log: silent, flushIntervalMs: 10, batchSize: 50, maxRetryMs: 50 });
    await first.start();
    for (let i = 0; i < 30; i++) first.enqueue(row(`s${i}`, 2n));
    await first.close();
    expect(first.state()).toMatchObject({ queued: 0, spooled: 30 });
    await sql`alter table tollgate_spend_logs_away rename to tollgate_spend_logs`.execute(storage.db);
    const second = new SpendWriter({ write: (r) => store.insert(r), spoolFile, log: silent, flushIntervalMs: 10, batchSize: 50, maxRetryMs: 50 });
    const unwritten: string[] = [];
    await second.start((r) => unwritten.push(r.request_id));
    expect(unwritten).toEqual([]);
    expect(await count(storage)).toBe(30);
    expect(second.state()).toMatchObject({ spooled: 0, healthy: true });
    await second.close();
  });

  it('replays a spool bigger than its read chunk, a batch at a time, skipping a torn last line, and hands over every row it could not write while the database is still down', async () => {
    const store = await open();
    const dir = await mkdtemp(join(tmpdir(), 'tg-spool-'));
    const spoolFile = join(dir, 'spool.jsonl');
    // ~3 MiB: rows with long tags cross the 1 MiB read chunks mid-line, some mid-character.
    const tag = 'caf\u00e9-'.repeat(200);
    const lines = Array.from({ length: 1500 }, (_, i) => JSON.stringify({ ...row(`big${i}`, 3n, { request_tags: [tag] }), spend: '3' }));
    await writeFile(spoolFile, lines.join('\n') + '\n{"request_id":"torn","sp');
    expect(lines.join('\n').length).toBeGreaterThan(2 * 1024 * 1024);

    await sql`alter table tollgate_spend_logs rename to tollgate_spend_logs_away`.execute(storage.db);
    const writes: number[] = [];
    const writer = new SpendWriter({
      write: async (b) => {
        writes.push(b.count);
        await store.insert(b);
      },
      spoolFile, log: silent, flushIntervalMs: 10, batchSize: 400, maxRetryMs: 50,
    });
    const unwritten = new RunningTotals();
    await writer.start((r) => unwritten.add(r));
    expect(unwritten.keySpend('k1')).toBe(4500n);
    expect(writer.state()).toMatchObject({ spooled: 1500, healthy: false });
    expect(writes).toEqual([400]); // the first write failed; nothing more was tried

    await sql`alter table tollgate_spend_logs_away rename to tollgate_spend_logs`.execute(storage.db);
    await until(() => writer.state().healthy, 5000);
    expect(await count(storage)).toBe(1500);
    expect(writes.slice(-4)).toEqual([400, 400, 400, 300]);
    expect(writer.state()).toMatchObject({ spooled: 0 });
    await writer.close();
  });
});

describe('LedgerStore.exclusively on PostgreSQL', () => {
  const opened: { tdb: TestDatabase; storage: Storage }[] = [];
  afterEach(async () => {
    for (const { tdb, storage } of opened.splice(0)) {
      await storage.close();
      await tdb.drop();
    }
  });
  /** A gateway's ledger: `schema` of another one (a replica), or a deployment of its own. */
  async function ledger(replicaOf?: TestDatabase): Promise<LedgerStore> {
    const tdb = replicaOf ?? (await createTestDatabase('postgres'));
    const storage = await tdb.open();
    opened.push({ tdb: replicaOf ? { ...tdb, drop: async () => {} } : tdb, storage });
    return new LedgerStore(storage);
  }

  it('runs one holder at a time among replicas, but never blocks a deployment in another schema', async () => {
    const a = await ledger();
    const replica = await ledger(opened[0]!.tdb);
    const elsewhere = await ledger();
    const inside = await a.exclusively('job', async () => ({
      replica: await replica.exclusively('job', async () => 'ran'),
      elsewhere: await elsewhere.exclusively('job', async () => 'ran'),
      otherLock: await replica.exclusively('another-job', async () => 'ran'),
    }));
    expect(inside).toEqual({ replica: undefined, elsewhere: 'ran', otherLock: 'ran' });
    // Released once the holder is done, also when it threw.
    await expect(a.exclusively('job', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await replica.exclusively('job', async () => 'ran')).toBe('ran');
  });
});
