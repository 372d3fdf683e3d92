import type { CompletionRecord, Logger, RouteKind, SinkLosses, SinkStats } from '@tollgate/core';
import type { DeliveryConfig } from './config-schema.js';
import { backoffMs, DeliveryError } from './delivery.js';
import { RingBuffer } from './ring-buffer.js';

/** Where a batch goes: how it is encoded and how it is delivered. */
export interface Sink {
  readonly type: string;
  /** One payload per batch, encoded once and reused by every retry (same span ids). */
  encode(records: readonly CompletionRecord[]): string;
  /** Resolves once the receiver took the batch; throws (a DeliveryError says if a retry helps). */
  deliver(payload: string, signal: AbortSignal): Promise<void>;
}

export interface ExportQueueOptions extends Omit<DeliveryConfig, 'name'> {
  name: string;
  sink: Sink;
  log: Logger;
}

/** Queue-full losses are logged at once, then summed up at most this often. */
const LOSS_LOG_INTERVAL_MS = 10_000;

/**
 * Takes records off the request path and delivers them in batches, one batch at a time per
 * sink. `push` is O(1) and never waits: the queue is a ring of `maxQueue` records, and when
 * it is full the oldest record is dropped, so during an outage the newest records (the ones
 * dashboards and alerts still care about) are kept. A failed batch is retried with
 * exponential backoff up to `maxAttempts`, then dropped. Every loss is counted by reason and
 * logged.
 */
export class ExportQueue {
  private readonly queue: RingBuffer<CompletionRecord>;
  private readonly routes: ReadonlySet<RouteKind>;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private timerImmediate = false;
  private pumping: Promise<void> | undefined;
  private inFlight = 0;
  private failing = false;
  private closing = false;
  /** Aborted when the shutdown flush runs out of time: cuts the POST or backoff under way. */
  private readonly stop = new AbortController();
  private sent = 0;
  private failed = 0;
  private readonly lost: SinkLosses = { queueFull: 0, rejected: 0, retriesExhausted: 0, shutdown: 0 };
  private unloggedQueueFull = 0;
  private lossLogTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ExportQueueOptions) {
    this.queue = new RingBuffer(o.maxQueue);
    this.routes = new Set(o.routes);
    this.log = o.log.child({ sink: o.name });
  }

  get name(): string {
    return this.o.name;
  }

  /** Called from the `request:complete` listener: enqueue and return, nothing else. */
  push(record: CompletionRecord): void {
    if (!this.routes.has(record.routeKind)) return;
    if (this.closing) {
      // Requests have all finished before plugins close; this is a late emitter.
      this.lost.shutdown++;
      this.log.warn({ reqId: record.id, reason: 'shutdown' }, 'record arrived after the sink closed: dropped');
      return;
    }
    if (this.queue.push(record) !== undefined) this.noteQueueFull();
    if (this.pumping) return;
    if (this.queue.length >= this.o.batchSize) this.schedule(0);
    else this.schedule(this.o.flushIntervalMs);
  }

  stats(): SinkStats {
    const lost = { ...this.lost };
    return {
      name: this.o.name,
      type: this.o.sink.type,
      sent: this.sent,
      dropped: lost.queueFull + lost.rejected + lost.retriesExhausted + lost.shutdown,
      lost,
      failed: this.failed,
      queueDepth: this.queue.length + this.inFlight,
    };
  }

  /**
   * Delivers what is queued, within `timeoutMs`; what is left then (queued, in flight or in
   * backoff) is dropped, counted and logged.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Ref'd on purpose: the process stays up until the flush ends or this fires.
    const deadline = setTimeout(() => this.stop.abort(), timeoutMs);
    try {
      await this.pumping;
      if (this.queue.length > 0 && !this.stop.signal.aborted) await this.pump();
    } finally {
      clearTimeout(deadline);
    }
    const left = this.queue.clear();
    if (left > 0) this.drop('shutdown', left, 0);
    clearTimeout(this.lossLogTimer);
    this.logQueueFull();
  }

  private schedule(ms: number): void {
    if (this.closing) return;
    if (this.timer) {
      if (ms > 0 || this.timerImmediate) return;
      clearTimeout(this.timer);
    }
    this.timerImmediate = ms === 0;
    this.timer = setTimeout(this.onTimer, ms);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.pumping = this.pump()
      .catch((err: unknown) => this.log.error({ err }, 'export sink loop failed'))
      .finally(() => {
        this.pumping = undefined;
        if (this.queue.length > 0) this.schedule(this.queue.length >= this.o.batchSize ? 0 : this.o.flushIntervalMs);
      });
  };

  /**
   * Sends the head batch (full, or due by the interval), then further batches while full ones
   * are waiting (or everything, when closing); a partial rest waits for the next interval.
   */
  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.stop.signal.aborted) {
      const batch = this.queue.take(this.o.batchSize);
      this.inFlight = batch.length;
      try {
        await this.deliver(batch);
      } finally {
        this.inFlight = 0;
      }
      if (this.queue.length < this.o.batchSize && !this.closing) return;
    }
  }

  private async deliver(batch: CompletionRecord[]): Promise<void> {
    let payload: string;
    try {
      payload = this.o.sink.encode(batch);
    } catch (err) {
      this.drop('rejected', batch.length, 0, err);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.o.sink.deliver(payload, this.stop.signal);
        this.sent += batch.length;
        if (this.failing) this.log.info({ attempts: attempt }, 'export sink delivering again');
        this.failing = false;
        return;
      } catch (err) {
        this.failed++;
        if (this.stop.signal.aborted) return this.drop('shutdown', batch.length, attempt, err);
        if (err instanceof DeliveryError && !err.retryable) return this.drop('rejected', batch.length, attempt, err);
        if (attempt >= this.o.maxAttempts) return this.drop('retriesExhausted', batch.length, attempt, err);
        if (!this.failing) this.log.warn({ err, records: batch.length, attempt }, 'export sink failed; retrying with backoff');
        this.failing = true;
        const hint = err instanceof DeliveryError ? err.retryAfterMs : undefined;
        if (!(await sleep(backoffMs(attempt, this.o.retryBaseMs, this.o.retryMaxMs, hint), this.stop.signal))) {
          return this.drop('shutdown', batch.length, attempt, err);
        }
      }
    }
  }

  private drop(reason: Exclude<keyof SinkLosses, 'queueFull'>, records: number, attempts: number, err?: unknown): void {
    this.lost[reason] += records;
    const why = reason === 'shutdown' ? 'the shutdown flush ran out of time' : reason === 'rejected' ? 'the sink refused the batch' : 'every attempt failed';
    this.log.error({ err, reason, records, attempts, droppedTotal: this.stats().dropped }, `export records dropped: ${why}`);
  }

  private noteQueueFull(): void {
    this.lost.queueFull++;
    this.unloggedQueueFull++;
    if (!this.lossLogTimer) this.logQueueFull();
  }

  private logQueueFull(): void {
    this.lossLogTimer = undefined;
    if (this.unloggedQueueFull === 0) return;
    this.log.error(
      { reason: 'queueFull', records: this.unloggedQueueFull, maxQueue: this.o.maxQueue, droppedTotal: this.stats().dropped },
      'export records dropped: the queue is full (the oldest waiting records made room)',
    );
    this.unloggedQueueFull = 0;
    if (this.closing) return;
    this.lossLogTimer = setTimeout(() => this.logQueueFull(), LOSS_LOG_INTERVAL_MS);
    this.lossLogTimer.unref();
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    timer.unref();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
