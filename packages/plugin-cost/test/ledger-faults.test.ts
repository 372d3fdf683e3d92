import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@tollgate/core';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { until } from '@tollgate/testing';
import { batchRows, LedgerStore, ledgerMigrations, type LedgerBatch } from '../src/ledger-store.js';
import { REJECT_FILE, SpendWriter, type SpendWriterOptions } from '../src/spend-writer.js';
import type { SpendRow } from '../src/spend-row.js';

const silent = createLogger({ level: 'silent', destination: { write: () => {} } });

function row(id: string, extra: Partial<SpendRow> = {}): SpendRow {
  return {
    request_id: id, upstream_request_id: null, message_id: null, call_type: 'messages', model: 'claude-haiku-4-5',
    api_key: 'k1', key_alias: null, user_id: 'u1', team_id: null, end_user: 'e1', request_tags: ['a'], status: 200,
    prompt_tokens: 10, completion_tokens: 5, input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0, cache_creation_5m_tokens: 0, cache_creation_1h_tokens: 0, web_search_requests: 0,
    service_tier: null, inference_geo: null, speed: null, spend: 7n, unpriced: false, stream: false, aborted: false,
    batch_id: null, start_time: 1_700_000_000_000, end_time: 1_700_000_000_100, completion_start_time: null,
    session_id: null, agent_id: null, client: null, billing: 'gateway', budget_exempt: false, served_model: null, estimated: false, upstream: null, ...extra,
  };
}

const dirs: string[] = [];
const writers: SpendWriter[] = [];
afterEach(async () => {
  for (const w of writers.splice(0)) await w.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tg-ledger-faults-'));
  dirs.push(dir);
  return dir;
}

function writer(o: Partial<SpendWriterOptions> & Pick<SpendWriterOptions, 'write' | 'spoolFile'>): SpendWriter {
  const w = new SpendWriter({ log: silent, flushIntervalMs: 10, batchSize: 10, maxRetryMs: 50, ...o });
  writers.push(w);
  return w;
}

/** A write the test finishes: each call waits until `release()`. */
function heldWrites() {
  const batches: LedgerBatch[] = [];
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  return {
    batches,
    write: async (b: LedgerBatch) => {
      batches.push(b);
      await gate;
    },
    release() {
      release();
      gate = new Promise<void>((r) => (release = r));
    },
  };
}

describe('the spend writer under faults', () => {
  it('counts the rows of a write in progress as queued until it commits', async () => {
    const db = heldWrites();
    const w = writer({ write: db.write, spoolFile: join(await tempDir(), 'spool.jsonl') });
    for (let i = 0; i < 10; i++) w.enqueue(row(`q${i}`));
    await until(() => db.batches.length === 1);
    // Taken by the writer, not yet committed: still queued.
    expect(w.state().queued).toBe(10);
    db.release();
    await until(() => w.state().queued === 0);
    expect(w.state()).toEqual({ queued: 0, spooled: 0, writeFailures: 0, rejected: 0, lost: 0, healthy: true });
  });

  it('takes up to maxBatchSize rows a write while more than a batch waits (a backlog), batchSize otherwise', async () => {
    const db = heldWrites();
    const w = writer({ write: db.write, spoolFile: join(await tempDir(), 'spool.jsonl'), maxBatchSize: 40 });
    for (let i = 0; i < 10; i++) w.enqueue(row(`b${i}`));
    await until(() => db.batches.length === 1);
    // 55 rows arrive while the first write runs: the writer is behind.
    for (let i = 10; i < 65; i++) w.enqueue(row(`b${i}`));
    db.release();
    await until(() => db.batches.length === 2);
    db.release();
    await until(() => db.batches.length === 3);
    db.release();
    await until(() => w.state().queued === 0);
    expect(db.batches.map((b) => b.count)).toEqual([10, 40, 15]);
    expect(db.batches.flatMap((b) => batchRows(b).map((r) => r.request_id))).toEqual(Array.from({ length: 65 }, (_, i) => `b${i}`));
  });

  it('abandons a write that hangs to the spool after writeTimeoutMs, and closes without waiting for it', async () => {
    const spoolFile = join(await tempDir(), 'spool.jsonl');
    const never = new Promise<void>(() => {});
    const w = writer({ write: () => never, spoolFile, writeTimeoutMs: 100 });
    for (let i = 0; i < 25; i++) w.enqueue(row(`h${i}`));
    await until(() => w.state().spooled === 25, 5000);
    expect(w.state()).toMatchObject({ queued: 0, spooled: 25, writeFailures: 1, healthy: false });
    w.enqueue(row('h25'));
    await w.close();
    writers.splice(writers.indexOf(w), 1);
    const spooled = (await readFile(spoolFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).request_id);
    expect(new Set(spooled)).toEqual(new Set(Array.from({ length: 26 }, (_, i) => `h${i}`)));
  });

  it('at the shutdown deadline abandons the write running and spools every row still in memory, without trying the database again', async () => {
    const spoolFile = join(await tempDir(), 'spool.jsonl');
    const db = heldWrites();
    // Only the deadline can end the write: its own limit is far away.
    const w = writer({ write: db.write, spoolFile, writeTimeoutMs: 600_000 });
    for (let i = 0; i < 25; i++) w.enqueue(row(`d${i}`));
    await until(() => db.batches.length === 1);
    const deadline = new AbortController();
    let closed = false;
    const closing = w.close({ signal: deadline.signal }).then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    expect([closed, w.state().queued]).toEqual([false, 25]);
    deadline.abort();
    await closing;
    writers.splice(writers.indexOf(w), 1);
    expect(db.batches.length).toBe(1);
    expect(w.state()).toEqual({ queued: 0, spooled: 25, writeFailures: 1, rejected: 0, lost: 0, healthy: false });
    const spooled = (await readFile(spoolFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).request_id);
    expect(spooled).toEqual(Array.from({ length: 25 }, (_, i) => `d${i}`));
    db.release(); // the abandoned write finishing late changes nothing
    await new Promise((r) => setImmediate(r));
    expect(w.state()).toMatchObject({ queued: 0, spooled: 25, lost: 0 });
  });

  it('closes with a deadline already past by spooling everything, without starting a write, and counts a row that comes later as lost', async () => {
    const spoolFile = join(await tempDir(), 'spool.jsonl');
    const db = heldWrites();
    const w = writer({ write: db.write, spoolFile, flushIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) w.enqueue(row(`p${i}`));
    await w.close({ signal: AbortSignal.abort() });
    writers.splice(writers.indexOf(w), 1);
    expect(db.batches.length).toBe(0);
    expect(w.state()).toMatchObject({ queued: 0, spooled: 3, lost: 0 });
    // Nothing writes a row that comes after close: it is counted, not kept in memory unseen.
    w.enqueue(row('too-late'));
    expect(w.state()).toMatchObject({ queued: 0, spooled: 3, lost: 1 });
  });

  it('keeps rows in memory when neither the database nor the spool takes them, says why, refuses past maxQueuedRows, and writes them all once it can', async () => {
    const dir = await tempDir();
    // The spool's folder cannot be made: a file stands in its place.
    const blocker = join(dir, 'data');
    await writeFile(blocker, 'not a folder');
    let down = true;
    const written: string[] = [];
    const w = writer({
      write: async (b) => {
        if (down) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        written.push(...batchRows(b).map((r) => r.request_id));
      },
      spoolFile: join(blocker, 'spool.jsonl'),
      maxQueuedRows: 30,
    });
    for (let i = 0; i < 25; i++) w.enqueue(row(`m${i}`));
    await until(() => w.problem() !== undefined);
    expect(w.full).toBe(false);
    expect(w.problem()).toMatch(/^spend rows can be neither written to the database nor spooled to disk \(.*(ENOTDIR|EEXIST).*\): 25 spend rows wait in memory \(at most 30, ledger.maxQueuedRows\)$/);
    for (let i = 25; i < 30; i++) w.enqueue(row(`m${i}`));
    expect(w.full).toBe(true);
    expect(w.problem()).toMatch(/30 spend rows wait in memory \(at most 30, ledger.maxQueuedRows\); requests are refused$/);
    // Refusing is the gate's job: rows of requests already admitted are still kept.
    w.enqueue(row('m30'));
    expect(w.state()).toMatchObject({ queued: 31, lost: 0 });
    // Room again (the database back, the folder freed): every row reaches the database once.
    await rm(blocker);
    down = false;
    await until(() => w.state().queued === 0 && w.state().spooled === 0, 5000);
    expect(new Set(written)).toEqual(new Set(Array.from({ length: 31 }, (_, i) => `m${i}`)));
    expect(w.problem()).toBeUndefined();
    expect(w.full).toBe(false);
  });

  it("with whenFull 'serve', drops rows past maxQueuedRows and counts them as lost", async () => {
    const dir = await tempDir();
    const blocker = join(dir, 'data');
    await writeFile(blocker, 'not a folder');
    const w = writer({
      write: async () => {
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      },
      spoolFile: join(blocker, 'spool.jsonl'),
      maxQueuedRows: 20,
      whenFull: 'serve',
    });
    for (let i = 0; i < 26; i++) w.enqueue(row(`s${i}`));
    expect(w.state()).toMatchObject({ queued: 20, lost: 6 });
    expect(w.problem()).toMatch(/20 spend rows wait in memory \(at most 20, ledger.maxQueuedRows\); new rows are dropped$/);
    // Shutdown with nowhere to put them: the rest are lost too, and counted.
    await w.close();
    writers.splice(writers.indexOf(w), 1);
    expect(w.state()).toMatchObject({ lost: 26 });
  });
});

describe('the ledger on PostgreSQL: rows refused for their content', () => {
  let tdb: TestDatabase;
  let storage: Storage;
  afterEach(async () => {
    await storage?.close();
    await tdb?.drop();
  });

  it('sets aside a row whose end user or tag is too large for an index (SQLSTATE 54000) and writes the others, without taking it for an outage', async () => {
    tdb = await createTestDatabase('postgres');
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage);
    const dir = await tempDir();
    const w = writer({ write: (b) => store.insert(b), isRowError: (e) => store.isRowError(e), spoolFile: join(dir, 'spool.jsonl'), flushIntervalMs: 60_000 });
    // Random text does not compress: past PostgreSQL's ~2.7 KB btree row limit.
    const huge = randomBytes(4000).toString('hex');
    const rows = [row('ok1'), row('long-user', { end_user: huge }), row('ok2'), row('long-tag', { request_tags: ['fine', huge] }), row('ok3')];
    for (const r of rows) w.enqueue(r);
    await w.flush();
    expect(w.state()).toEqual({ queued: 0, spooled: 0, writeFailures: 0, rejected: 2, lost: 0, healthy: true });
    const ids = (await sql<{ request_id: string }>`select request_id from tollgate_spend_logs order by request_id`.execute(storage.db)).rows.map((r) => r.request_id);
    expect(ids).toEqual(['ok1', 'ok2', 'ok3']);
    const kept = (await readFile(join(dir, REJECT_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { error: string; row: SpendRow });
    expect(kept.map((k) => k.row.request_id)).toEqual(['long-user', 'long-tag']);
    expect(kept[0]!.error).toMatch(/index row size \d+ exceeds/);
    // The ledger carries on for everyone else.
    w.enqueue(row('after'));
    await w.flush();
    expect(w.state()).toMatchObject({ queued: 0, spooled: 0, rejected: 2, healthy: true });
  });

  it('books once a batch abandoned at the shutdown deadline that commits late, after the next start replays its spool', async () => {
    tdb = await createTestDatabase('postgres');
    storage = await tdb.open();
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage);
    const spoolFile = join(await tempDir(), 'spool.jsonl');
    const gate = heldWrites();
    let committed = 0;
    // A stalled database: the write commits, but only once the writer gave up on it.
    const late = async (b: LedgerBatch) => {
      await gate.write(b);
      await store.insert(b);
      committed += b.count;
    };
    const first = writer({ write: late, spoolFile, writeTimeoutMs: 600_000 });
    for (let i = 0; i < 15; i++) first.enqueue(row(`late${i}`));
    await until(() => gate.batches.length === 1);
    const deadline = new AbortController();
    const closing = first.close({ signal: deadline.signal });
    deadline.abort();
    await closing;
    expect(first.state()).toMatchObject({ queued: 0, spooled: 15, lost: 0 });
    gate.release();
    await until(() => committed === 10);
    const next = writer({ write: (b) => store.insert(b), spoolFile });
    await next.start();
    expect(next.state()).toMatchObject({ queued: 0, spooled: 0, healthy: true });
    const n = await sql<{ n: string }>`select count(*) as n from tollgate_spend_logs`.execute(storage.db);
    expect(Number(n.rows[0]!.n)).toBe(15);
    expect(await store.sharedKeySpend(['k1'])).toEqual(new Map([['k1', 105n]]));
    expect((await store.totalsBy('api_key')).get('k1')).toBe(105n);
  });

  it('tells rows refused for their content from an unavailable database', () => {
    const store = new LedgerStore({ driver: 'postgres', db: { withTables: () => ({}) } } as unknown as Storage);
    const code = (c: string) => Object.assign(new Error(c), { code: c });
    for (const c of ['22001', '22P05', '23502', '54000', '54001']) expect([c, store.isRowError(code(c))]).toEqual([c, true]);
    for (const c of ['08006', '57P01', '57014', '53100', '42P01', '40001', 'ECONNRESET']) expect([c, store.isRowError(code(c))]).toEqual([c, false]);
    expect(store.isRowError(new Error('Connection terminated unexpectedly'))).toBe(false);
  });
});
