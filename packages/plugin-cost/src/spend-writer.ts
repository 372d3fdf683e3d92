import { appendFile, mkdir, open, rm, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { dirname, join } from 'node:path';
import type { Logger } from '@tollgate/core';
import { batchRows, ledgerBatch, LedgerQueue, type LedgerBatch } from './ledger-store.js';
import type { SpendRow } from './spend-row.js';

export interface SpendWriterOptions {
  /** Writes a batch of rows; must be idempotent per request_id (replays happen). */
  write(batch: LedgerBatch): Promise<void>;
  /** JSON-lines file rows go to while the database cannot take them. */
  spoolFile: string;
  log: Logger;
  /** Longest a row waits in memory before a write is attempted. */
  flushIntervalMs: number;
  /** Rows per database write. */
  batchSize: number;
  /** Longest pause between retries while the database is failing. */
  maxRetryMs: number;
  /**
   * True when a write failed because of its rows (a value the database refuses), not because
   * the database is unavailable. Such a batch is written row by row, and the rows the database
   * still refuses go to the rejected-rows file instead of blocking the ledger.
   */
  isRowError?(err: unknown): boolean;
}

export interface SpendQueueState {
  /** Rows in memory, not yet written. */
  queued: number;
  /** Rows in the spool file, waiting for the database. */
  spooled: number;
  /** Database writes that failed since start. */
  writeFailures: number;
  /** Rows the database refused since start, kept in the rejected-rows file. */
  rejected: number;
  healthy: boolean;
}

/**
 * Gets ledger rows into the database off the request path. Rows wait in memory for at most
 * `flushIntervalMs`, then go in batches. When a write fails, the batch and every row after it
 * go to an append-only spool file instead (so an outage of any length costs bounded memory and
 * survives a crash), and the spool is replayed, with backoff, until the database takes it.
 * On a hard crash, at most the rows of the last `flushIntervalMs` (those still in memory) are
 * lost; replays are harmless because writes are idempotent per request_id. Rows are encoded
 * for the database as they are queued, and wait as bytes (EncodedQueue); the spool holds them
 * as row objects.
 */
export class SpendWriter {
  private readonly queue = new LedgerQueue();
  /** Date.now() when each queued row arrived. */
  private arrivals: number[] = [];
  private spooled = 0;
  private writeFailures = 0;
  private rejected = 0;
  private healthy = true;
  private timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires (epoch ms). */
  private timerAt = Infinity;
  private retryMs = 250;
  private nextRetryAt = 0;
  private draining: Promise<void> | undefined;
  private closed = false;
  /** A flush is running: partial batches are due now. */
  private forced = false;

  constructor(private readonly o: SpendWriterOptions) {}

  /**
   * Replays a spool left by an earlier run. Rows it cannot write yet go to `unwritten`: the
   * running totals must count them on top of the database's.
   */
  async start(unwritten: (row: SpendRow) => void = () => {}): Promise<void> {
    const size = await stat(this.o.spoolFile).then((s) => s.size, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 0 : Promise.reject(err)));
    if (size === 0) return;
    this.o.log.warn({ bytes: size }, 'replaying spend rows spooled by an earlier run');
    this.healthy = false;
    if (!(await this.replaySpool(unwritten))) this.schedule();
  }

  enqueue(row: SpendRow): void {
    this.queue.push(row);
    this.arrivals.push(Date.now());
    const queued = this.queue.length;
    if (queued === 1 || queued === this.o.batchSize) this.schedule();
  }

  state(): SpendQueueState {
    return { queued: this.queue.length, spooled: this.spooled, writeFailures: this.writeFailures, rejected: this.rejected, healthy: this.healthy };
  }

  /**
   * Writes (or spools) every row queued so far, now. Once it resolves, those rows are durable:
   * in the database, or in the spool file that is replayed until the database takes it.
   */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.forced = true;
    this.draining = this.drain().finally(() => {
      this.forced = false;
      this.draining = undefined;
      this.schedule();
    });
    await this.draining;
  }

  /** Writes (or spools) everything still in memory. Used at shutdown. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.draining;
    await this.drain();
  }

  /**
   * Sets the timer for the next drain: now when a full batch waits, else when the oldest row
   * is due, or when the next replay of the spool is.
   */
  private schedule(): void {
    if (this.closed || this.draining) return; // a running drain schedules again when it ends
    let at = Infinity;
    const queued = this.queue.length;
    if (queued >= this.o.batchSize) at = 0;
    else if (queued > 0) at = this.arrivals[0]! + this.o.flushIntervalMs;
    if (!this.healthy) at = Math.min(at, this.nextRetryAt);
    if (at >= this.timerAt || at === Infinity) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.draining = this.drain().finally(() => {
        this.draining = undefined;
        this.schedule();
      });
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  /** Writes full batches, and a partial one once its oldest row is due (or at close, or on flush). */
  private async drain(): Promise<void> {
    if (!this.healthy && Date.now() >= this.nextRetryAt) await this.replaySpool();
    while (this.queue.length >= this.o.batchSize || (this.queue.length > 0 && (this.closed || this.forced || this.arrivals[0]! + this.o.flushIntervalMs <= Date.now()))) {
      const batch = this.queue.take(Math.min(this.queue.length, this.o.batchSize));
      this.arrivals.splice(0, batch.count);
      if (this.healthy && (await this.tryWrite(batch))) {
        // An embedded database writes on this thread: let requests run between batches.
        await new Promise((r) => setImmediate(r));
        continue;
      }
      await this.spool(batch);
    }
  }

  private async tryWrite(batch: LedgerBatch): Promise<boolean> {
    try {
      await this.o.write(batch);
      return true;
    } catch (err) {
      if (this.o.isRowError?.(err)) return this.writeEach(batchRows(batch));
      return this.failed(err, batch.count);
    }
  }

  /**
   * A batch the database refused for what is in it: each row on its own, so one bad row costs
   * only itself. Rows written before a failure are written again later, harmlessly (idempotent).
   */
  private async writeEach(rows: SpendRow[]): Promise<boolean> {
    for (const row of rows) {
      try {
        await this.o.write(ledgerBatch([row]));
      } catch (err) {
        if (!this.o.isRowError?.(err)) return this.failed(err, rows.length);
        await this.reject(row, err);
      }
    }
    return true;
  }

  private failed(err: unknown, rows: number): false {
    this.writeFailures++;
    this.nextRetryAt = Date.now() + this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.o.maxRetryMs);
    if (this.healthy) this.o.log.error({ err, rows }, 'spend ledger write failed; spooling rows to disk until the database is back');
    this.healthy = false;
    return false;
  }

  /** Keeps a row the database refuses out of the ledger, in a file beside the spool, for repair. */
  private async reject(row: SpendRow, err: unknown): Promise<void> {
    const error = err instanceof Error ? err.message : String(err);
    await mkdir(dirname(this.rejectFile), { recursive: true });
    await appendFile(this.rejectFile, `${JSON.stringify({ error, row }, bigintAsString)}\n`);
    this.rejected++;
    this.o.log.error({ requestId: row.request_id, error, file: this.rejectFile }, 'the database refused a spend row: it is kept in the rejected-rows file, out of the ledger and its reports');
  }

  private get rejectFile(): string {
    return join(dirname(this.o.spoolFile), REJECT_FILE);
  }

  /**
   * Writes the spool to the database a batch at a time, reading it in bounded chunks (an outage
   * of hours leaves a file far larger than memory). True when all of it went in: the file is
   * then removed. After a failed write the rest stays for the next attempt; with `unwritten`,
   * the rest is still read, to hand over every row not written.
   */
  private async replaySpool(unwritten?: (row: SpendRow) => void): Promise<boolean> {
    let rows = 0;
    let failed = false;
    for await (const batch of this.spoolBatches()) {
      rows += batch.length;
      if (!failed && (await this.tryWrite(ledgerBatch(batch)))) continue;
      failed = true;
      if (!unwritten) return false;
      batch.forEach(unwritten);
    }
    if (failed) {
      this.spooled = rows;
      return false;
    }
    await rm(this.o.spoolFile, { force: true });
    if (rows > 0) this.o.log.info({ rows }, 'spooled spend rows written; the ledger is in step again');
    this.spooled = 0;
    this.healthy = true;
    this.retryMs = 250;
    return true;
  }

  private async spool(batch: LedgerBatch): Promise<void> {
    await mkdir(dirname(this.o.spoolFile), { recursive: true });
    await appendFile(this.o.spoolFile, batchRows(batch).map((r) => `${JSON.stringify(r, bigintAsString)}\n`).join(''));
    this.spooled += batch.count;
  }

  /** The spool's rows, `batchSize` at a time, read 1 MiB at a time. */
  private async *spoolBatches(): AsyncGenerator<SpendRow[]> {
    let file;
    try {
      file = await open(this.o.spoolFile, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const chunk = Buffer.alloc(SPOOL_READ_BYTES);
      const decoder = new StringDecoder('utf8');
      let rest = '';
      let batch: SpendRow[] = [];
      for (;;) {
        const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
        const lines = (rest + (bytesRead > 0 ? decoder.write(chunk.subarray(0, bytesRead)) : decoder.end())).split('\n');
        rest = bytesRead > 0 ? lines.pop()! : '';
        for (const line of lines) {
          const row = this.spoolRow(line);
          if (row) batch.push(row);
          if (batch.length >= this.o.batchSize) {
            yield batch;
            batch = [];
          }
        }
        if (bytesRead === 0) break;
      }
      if (batch.length > 0) yield batch;
    } finally {
      await file.close();
    }
  }

  private spoolRow(line: string): SpendRow | undefined {
    if (!line.trim()) return undefined;
    try {
      const r = JSON.parse(line) as SpendRow & { spend: string };
      return { ...r, spend: BigInt(r.spend) };
    } catch (err) {
      // A torn last line from a crash mid-append: the rest of the file is still good.
      this.o.log.warn({ err }, 'skipping an unreadable line in the spend spool');
      return undefined;
    }
  }
}

const SPOOL_READ_BYTES = 1 << 20;
/** Rows the database refused (JSON lines: `{ error, row }`), next to the spool file. */
export const REJECT_FILE = 'spend-rejected.jsonl';

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
