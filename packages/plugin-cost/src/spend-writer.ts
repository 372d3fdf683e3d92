import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
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
}

export interface SpendQueueState {
  /** Rows in memory, not yet written. */
  queued: number;
  /** Rows in the spool file, waiting for the database. */
  spooled: number;
  /** Database writes that failed since start. */
  writeFailures: number;
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
   * Replays a spool left by an earlier run. Returns the rows it could not write yet, which the
   * running totals must count on top of the database's.
   */
  async start(): Promise<SpendRow[]> {
    const rows = await this.readSpool();
    if (rows.length === 0) return [];
    this.o.log.warn({ rows: rows.length }, 'replaying spend rows spooled by an earlier run');
    this.spooled = rows.length;
    this.healthy = false;
    await this.replaySpool();
    if (this.healthy) return [];
    this.schedule();
    return rows;
  }

  enqueue(row: SpendRow): void {
    this.queue.push(row);
    this.arrivals.push(Date.now());
    const queued = this.queue.length;
    if (queued === 1 || queued === this.o.batchSize) this.schedule();
  }

  state(): SpendQueueState {
    return { queued: this.queue.length, spooled: this.spooled, writeFailures: this.writeFailures, healthy: this.healthy };
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
      this.writeFailures++;
      this.nextRetryAt = Date.now() + this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, this.o.maxRetryMs);
      if (this.healthy) this.o.log.error({ err, rows: batch.count }, 'spend ledger write failed; spooling rows to disk until the database is back');
      this.healthy = false;
      return false;
    }
  }

  private async replaySpool(): Promise<void> {
    const rows = await this.readSpool();
    for (let i = 0; i < rows.length; i += this.o.batchSize) {
      if (!(await this.tryWrite(ledgerBatch(rows.slice(i, i + this.o.batchSize))))) return;
    }
    await rm(this.o.spoolFile, { force: true });
    if (rows.length > 0) this.o.log.info({ rows: rows.length }, 'spooled spend rows written; the ledger is in step again');
    this.spooled = 0;
    this.healthy = true;
    this.retryMs = 250;
  }

  private async spool(batch: LedgerBatch): Promise<void> {
    await mkdir(dirname(this.o.spoolFile), { recursive: true });
    await appendFile(this.o.spoolFile, batchRows(batch).map((r) => `${JSON.stringify(r, bigintAsString)}\n`).join(''));
    this.spooled += batch.count;
  }

  private async readSpool(): Promise<SpendRow[]> {
    let text: string;
    try {
      text = await readFile(this.o.spoolFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const rows: SpendRow[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as SpendRow & { spend: string };
        rows.push({ ...r, spend: BigInt(r.spend) });
      } catch (err) {
        // A torn last line from a crash mid-append: the rest of the file is still good.
        this.o.log.warn({ err }, 'skipping an unreadable line in the spend spool');
      }
    }
    return rows;
  }
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
