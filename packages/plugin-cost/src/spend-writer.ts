import { BoundedWrite } from './bounded-write.js';
import { batchRows, ledgerBatch, LedgerQueue, type LedgerBatch } from './ledger-store.js';
import { SpendSpool } from './spend-spool.js';
import type { SpendRow } from './spend-row.js';
import type { SpendQueueState, SpendWriterOptions } from './spend-writer-options.js';

export { REJECT_FILE } from './spend-spool.js';
export type { SpendQueueState, SpendWriterOptions } from './spend-writer-options.js';

/**
 * Gets ledger rows into the database off the request path. Rows wait in memory for at most
 * `flushIntervalMs`, then go in batches. When a write fails or takes longer than
 * `writeTimeoutMs`, the batch and every row after it go to an append-only spool file instead
 * (so an outage of any length costs bounded memory and survives a crash), and the spool is
 * replayed, with backoff, until the database takes it. When the spool cannot be written either
 * (a full disk), batches wait in memory and are retried; `full` tells the gateway to refuse
 * requests once `maxQueuedRows` wait. On a hard crash, at most the rows still in memory are
 * lost; replays are harmless because writes are idempotent per request_id. Rows are encoded
 * for the database as they are queued, and wait as bytes (EncodedQueue). `close` keeps to the
 * shutdown's deadline: past it, the database is given up on and the rest is spooled.
 */
export class SpendWriter {
  private readonly queue = new LedgerQueue();
  private readonly spool: SpendSpool;
  private readonly writes: BoundedWrite;
  /** Date.now() when each queued row arrived. */
  private arrivals: number[] = [];
  /** Batches neither the database nor the spool took: retried before anything else. */
  private held: LedgerBatch[] = [];
  private heldRows = 0;
  /** Rows of the batch being written or spooled. */
  private inFlight = 0;
  private spooled = 0;
  private writeFailures = 0;
  private rejected = 0;
  private lost = 0;
  private healthy = true;
  /** Why the spool cannot take rows, while it cannot. */
  private stuck: string | undefined;
  private dropping = false;
  private timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires (epoch ms). */
  private timerAt = Infinity;
  private retryMs = 250;
  private nextRetryAt = 0;
  private draining: Promise<void> | undefined;
  private closed = false;
  /** A flush is running: partial batches are due now. */
  private forced = false;
  private readonly maxQueued: number;
  /** Most rows a write takes when more than `batchSize` wait (see SpendWriterOptions.maxBatchSize). */
  private readonly maxBatch: number;

  constructor(private readonly o: SpendWriterOptions) {
    this.maxBatch = Math.max(o.batchSize, o.maxBatchSize ?? o.batchSize);
    // A spool is a backlog: replayed in the larger batches.
    this.spool = new SpendSpool(o.spoolFile, this.maxBatch, o.log);
    this.writes = new BoundedWrite(o.write, o.writeTimeoutMs ?? 10_000);
    this.maxQueued = o.maxQueuedRows ?? 50_000;
  }

  /**
   * Replays a spool left by an earlier run. Rows it cannot write yet go to `unwritten`: the
   * running totals must count them on top of the database's. May be called again after it failed.
   */
  async start(unwritten: (row: SpendRow) => void = () => {}): Promise<void> {
    await this.exclusive(async () => {
      const size = await this.spool.size();
      if (size === 0) return;
      this.o.log.warn({ bytes: size }, 'replaying spend rows spooled by an earlier run');
      this.healthy = false;
      await this.replaySpool(unwritten);
    });
  }

  enqueue(row: SpendRow): void {
    if (this.closed) {
      // A request that completed past the shutdown deadline: nothing would write its row.
      this.o.log.error({ requestId: row.request_id }, 'a spend row arrived after the ledger closed: it is lost');
      this.lost++;
      return;
    }
    if (this.full && this.o.whenFull === 'serve') return this.drop(1);
    this.dropping = false;
    this.queue.push(row);
    this.arrivals.push(Date.now());
    const queued = this.queue.length;
    if (queued === 1 || queued === this.o.batchSize) this.schedule();
  }

  /** Rows in memory not yet committed (waiting, being written, held for a disk with room). */
  get pending(): number {
    return this.queue.length + this.heldRows + this.inFlight;
  }

  /** `maxQueuedRows` rows wait in memory: no room for more. */
  get full(): boolean {
    return this.pending >= this.maxQueued;
  }

  state(): SpendQueueState {
    return { queued: this.pending, spooled: this.spooled, writeFailures: this.writeFailures, rejected: this.rejected, lost: this.lost, healthy: this.healthy };
  }

  /** Why rows cannot be kept safe right now (readiness), or undefined when they can. */
  problem(): string | undefined {
    const waiting = `${this.pending} spend rows wait in memory (at most ${this.maxQueued}, ledger.maxQueuedRows)`;
    const full = this.full ? (this.o.whenFull === 'serve' ? '; new rows are dropped' : '; requests are refused') : '';
    if (this.stuck) return `spend rows can be neither written to the database nor spooled to disk (${this.stuck}): ${waiting}${full}`;
    return this.full ? `${waiting}${full}` : undefined;
  }

  /**
   * Writes (or spools) every row queued so far, now. Once it resolves, those rows are durable
   * (in the database, or in the spool file that is replayed until the database takes it),
   * unless neither can take them (`problem()`): they then still wait in memory.
   */
  async flush(): Promise<void> {
    if (this.closed) return;
    this.forced = true;
    await this.exclusive(() => this.drain()).finally(() => (this.forced = false));
  }

  /**
   * Writes (or spools) everything still in memory. Used at shutdown: once `signal` aborts (the
   * shutdown deadline), the write running is abandoned, and every row still in memory goes to
   * the spool without another try of the database; the next start replays it.
   */
  async close({ signal }: { signal?: AbortSignal } = {}): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const cutOff = () => this.writes.cutOff('the shutdown deadline came before the database took these rows');
    if (signal?.aborted) cutOff();
    else signal?.addEventListener('abort', cutOff, { once: true });
    try {
      while (this.draining) await this.draining;
      await this.drain();
    } finally {
      signal?.removeEventListener('abort', cutOff);
    }
    if (this.pending > 0) {
      this.o.log.error({ rows: this.pending, reason: this.stuck }, 'spend rows could be neither written nor spooled before shutdown: they are lost');
      this.lost += this.pending;
    }
  }

  /** Runs `fn` when no drain runs, as the drain: spool reads and appends never overlap. */
  private async exclusive(fn: () => Promise<void>): Promise<void> {
    while (this.draining) await this.draining;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    let done!: () => void;
    this.draining = new Promise((resolve) => (done = resolve));
    try {
      await fn();
    } finally {
      this.draining = undefined;
      done();
      this.schedule();
    }
  }

  /**
   * Sets the timer for the next drain: now when a full batch waits, else when the oldest row
   * is due, or when the next retry is (of the spool's replay, or of batches nothing took).
   */
  private schedule(): void {
    if (this.closed || this.draining) return; // a running drain schedules again when it ends
    let at = Infinity;
    const queued = this.queue.length;
    if (this.held.length > 0) at = this.nextRetryAt;
    else if (queued >= this.o.batchSize) at = 0;
    else if (queued > 0) at = this.arrivals[0]! + this.o.flushIntervalMs;
    if (!this.healthy) at = Math.min(at, this.nextRetryAt);
    if (at >= this.timerAt || at === Infinity) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => void this.exclusive(() => this.drain()), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  /**
   * Retries what is held, then writes full batches, and a partial one once its oldest row is
   * due (or at close, or on flush). Never rejects: a failure is logged and retried later.
   */
  private async drain(): Promise<void> {
    try {
      const retryDue = this.closed || this.forced || Date.now() >= this.nextRetryAt;
      // At shutdown the spool stays for the next start: replaying it now could only delay the exit.
      if (!this.healthy && retryDue && !this.closed) await this.replaySpool();
      if (this.held.length > 0 && !retryDue) return;
      while (this.held.length > 0) {
        // The database is tried for these even while it is failing: the spool may be what failed.
        if (!(await this.persist(this.held[0]!, true))) return;
        this.heldRows -= this.held.shift()!.count;
      }
      while (this.queue.length >= this.o.batchSize || (this.queue.length > 0 && (this.closed || this.forced || this.arrivals[0]! + this.o.flushIntervalMs <= Date.now()))) {
        // Behind (more than a batch waits): up to maxBatch rows in one write.
        const batch = this.queue.take(Math.min(this.queue.length, this.maxBatch));
        this.arrivals.splice(0, batch.count);
        this.inFlight = batch.count;
        let kept = false;
        try {
          kept = await this.persist(batch);
        } finally {
          this.inFlight = 0;
          if (!kept) {
            this.held.push(batch);
            this.heldRows += batch.count;
          }
        }
        if (!kept) return;
        // An embedded database writes on this thread: let requests run between batches.
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      this.o.log.error({ err }, 'the spend ledger writer failed; retrying');
      this.backoff();
    }
  }

  /** Into the database, else the spool. False when neither took the batch. */
  private async persist(batch: LedgerBatch, tryDatabase = this.healthy): Promise<boolean> {
    if (tryDatabase && (await this.tryWrite(batch))) {
      this.unstick();
      return true;
    }
    try {
      await this.spool.append(batchRows(batch));
      this.spooled += batch.count;
      this.unstick();
      return true;
    } catch (err) {
      if (!this.stuck) this.o.log.error({ err, rows: batch.count }, 'spend rows can be neither written nor spooled: they wait in memory (ledger.maxQueuedRows) and are retried');
      this.stuck = (err as Error).message;
      this.backoff();
      return false;
    }
  }

  private unstick(): void {
    if (!this.stuck) return;
    this.stuck = undefined;
    this.o.log.info('spend rows can be kept safe again');
  }

  private async tryWrite(batch: LedgerBatch): Promise<boolean> {
    try {
      await this.writes.run(batch);
      return true;
    } catch (err) {
      if (this.o.isRowError?.(err)) return this.writeEach(batchRows(batch));
      return this.failed(err, batch.count);
    }
  }

  /**
   * A batch the database refused for what is in it: each row on its own, so one bad row costs
   * only itself. Rows written before a failure are written again later, harmlessly (idempotent).
   * False when a row could not be written or kept aside: the batch then goes to the spool.
   */
  private async writeEach(rows: SpendRow[]): Promise<boolean> {
    for (const row of rows) {
      try {
        await this.writes.run(ledgerBatch([row]));
      } catch (err) {
        if (!this.o.isRowError?.(err)) return this.failed(err, rows.length);
        if (!(await this.reject(row, err))) return false;
      }
    }
    return true;
  }

  private failed(err: unknown, rows: number): false {
    this.writeFailures++;
    if (this.healthy) this.o.log.error({ err, rows }, 'spend ledger write failed; spooling rows to disk until the database is back');
    this.healthy = false;
    this.backoff();
    return false;
  }

  private backoff(): void {
    this.nextRetryAt = Date.now() + this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.o.maxRetryMs);
  }

  /** Keeps a row the database refuses out of the ledger, in a file beside the spool, for repair. */
  private async reject(row: SpendRow, err: unknown): Promise<boolean> {
    const error = err instanceof Error ? err.message : String(err);
    try {
      await this.spool.reject(row, error);
    } catch (fileErr) {
      this.o.log.error({ err: fileErr, requestId: row.request_id }, 'could not keep a refused spend row in the rejected-rows file; it is retried');
      return false;
    }
    this.rejected++;
    this.o.log.error({ requestId: row.request_id, error, file: this.spool.rejectFile }, 'the database refused a spend row: it is kept in the rejected-rows file, out of the ledger and its reports');
    return true;
  }

  private drop(rows: number): void {
    if (!this.dropping) this.o.log.error({ maxQueuedRows: this.maxQueued }, 'the spend ledger queue is full: serving requests without their rows (ledger.whenFull: serve), counted as lost');
    this.dropping = true;
    this.lost += rows;
  }

  /**
   * Writes the spool to the database a batch at a time. True when all of it went in: the file
   * is then removed. After a failed write the rest stays for the next attempt; with
   * `unwritten`, the rest is still read, to hand over every row not written.
   */
  private async replaySpool(unwritten?: (row: SpendRow) => void): Promise<boolean> {
    let rows = 0;
    let failed = false;
    for await (const batch of this.spool.batches()) {
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
    // Nothing was replayed, so the database was not tried: the held batches try it next.
    if (rows === 0 && this.held.length > 0) return false;
    await this.spool.remove();
    if (rows > 0) this.o.log.info({ rows }, 'spooled spend rows written; the ledger is in step again');
    this.spooled = 0;
    this.healthy = true;
    this.retryMs = 250;
    return true;
  }
}
