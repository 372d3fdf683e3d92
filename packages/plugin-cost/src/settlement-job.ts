import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { settledOrAborted, type Logger, type UpstreamTarget } from '@tollgate/core';
import type { BatchSettlement } from './batch-settlement.js';
import type { LedgerStore } from './ledger-store.js';

export interface SettlementJobOptions {
  store: LedgerStore;
  settlement: BatchSettlement;
  /** Resolves once every row booked so far is durable (in the database, or spooled to disk). */
  flush(): Promise<void>;
  /**
   * The upstream of the pool by this name (the one that created a batch), with the gateway's
   * own credential for it; the pool's first upstream for null (a batch created before the
   * ledger named upstreams, when there was one). Undefined when the pool has no such upstream.
   */
  target(upstream: string | null): UpstreamTarget | undefined;
  /** How long one call to the upstream may take. */
  timeoutMs: number;
  log: Logger;
  /** Pause between runs. */
  everyMs: number;
  /** How far back to look for unsettled batches. */
  lookbackDays: number;
}

/** What one run did. */
export interface SettlementRun {
  /** Unsettled batches asked about. */
  checked: number;
  /** Batches closed this run (ended, or gone upstream). */
  settled: number;
  /** Results booked this run. */
  booked: number;
  /** Batches that failed (left for the next run). */
  failed: number;
  /** Set when another replica on the same database was running the job: this run did nothing. */
  skipped?: true;
}

/** The most unsettled batches one run asks about; the rest wait for the next run. */
const MAX_BATCHES_PER_RUN = 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Tells the job's own calls apart in upstream logs. */
export const USER_AGENT = 'tollgate-batch-settlement';
/** The database lock one replica holds while it runs the job. */
const SETTLEMENT_LOCK = 'tollgate.batch_settlement';

/**
 * Books the results of batches created through the gateway that nobody fetched through it:
 * Anthropic bills a batch's succeeded requests whether or not anyone downloads them.
 *
 * Every `everyMs` it asks the upstream that created each batch (the create call's ledger row
 * names it), with the gateway's own key for that upstream, about each batch created within
 * `lookbackDays` that it has not settled yet. Once a batch has ended it reads the results from
 * that upstream's configured base (never from the batch's `results_url`, whose host it does
 * not trust with the key), books each succeeded result that is not booked yet
 * (the same exactly-once bookkeeping as a client's fetch through the gateway), waits until
 * those rows are durable, and only then marks the batch settled. A batch the upstream no
 * longer has (deleted, or past the 29 days Anthropic keeps results) is marked `gone` with
 * nothing booked. A batch still in progress, or one that fails, is asked about again next run.
 */
export class BatchSettlementJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SettlementRun> | undefined;
  private readonly stop = new AbortController();

  constructor(private readonly o: SettlementJobOptions) {}

  /** Starts the runs: the first soon after start (at most 30 s), then every `everyMs`. */
  start(): void {
    this.schedule(Math.min(this.o.everyMs, 30_000));
  }

  /** One run now (or the one already running). */
  runOnce(): Promise<SettlementRun> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Stops the timer and aborts a run in progress; what it booked so far stays booked. Waits
   * for the run to end, but not once `signal` aborts (a stalled database at shutdown).
   */
  async close(signal?: AbortSignal): Promise<void> {
    clearTimeout(this.timer);
    this.stop.abort();
    await settledOrAborted(this.running, signal);
  }

  private schedule(ms: number): void {
    if (this.stop.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.runOnce()
        .catch((err: unknown) => this.o.log.warn({ err }, 'batch settlement run failed; trying again next run'))
        .finally(() => this.schedule(this.o.everyMs));
    }, ms);
    this.timer.unref();
  }

  /**
   * One replica at a time: each books what it settles into its own running totals, so two
   * concurrent runs would both count the same results there (the ledger itself books once).
   */
  private async run(): Promise<SettlementRun> {
    const run = await this.o.store.exclusively(SETTLEMENT_LOCK, () => this.settleAll());
    return run ?? { checked: 0, settled: 0, booked: 0, failed: 0, skipped: true };
  }

  private async settleAll(): Promise<SettlementRun> {
    const since = Date.now() - this.o.lookbackDays * DAY_MS;
    const batchIds = await this.o.store.unsettledBatches(since, MAX_BATCHES_PER_RUN);
    const run: SettlementRun = { checked: 0, settled: 0, booked: 0, failed: 0 };
    for (const batchId of batchIds) {
      if (this.stop.signal.aborted) break;
      run.checked++;
      try {
        const booked = await this.settle(batchId);
        if (booked === undefined) continue;
        run.settled++;
        run.booked += booked;
      } catch (err) {
        if (this.stop.signal.aborted) break;
        run.failed++;
        this.o.log.warn({ err, batchId }, 'could not settle a batch; trying again next run');
      }
    }
    if (run.settled > 0 || run.failed > 0) this.o.log.info(run, 'batch settlement run');
    return run;
  }

  /** The results booked when the batch is now settled; undefined while it is still running. */
  private async settle(batchId: string): Promise<number | undefined> {
    const owner = await this.o.settlement.owner(batchId);
    // Unreachable in practice: the batch came from the ledger's own create rows.
    if (!owner) return undefined;
    const target = this.o.target(owner.upstream);
    // Not gone: the upstream may come back in a reload, and its batches with it.
    if (!target) throw new Error(`the upstream "${owner.upstream}" that created it is not in the pool`);
    const path = `/v1/messages/batches/${encodeURIComponent(batchId)}`;
    const status = await this.get(target, path);
    if (status.status === 404) return this.gone(batchId, status);
    if (!status.ok) throw await upstreamError(status);
    const batch = (await status.json()) as { processing_status?: unknown };
    if (batch.processing_status !== 'ended') return undefined;

    const booking = await this.o.settlement.prepare(batchId, owner);
    if (!booking) return undefined;
    const results = await this.get(target, `${path}/results`);
    if (results.status === 404) return this.gone(batchId, results);
    if (!results.ok || !results.body) throw await upstreamError(results);
    let booked = 0;
    const lines = createInterface({ input: Readable.fromWeb(results.body as WebReadableStream<Uint8Array>), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() !== '' && this.o.settlement.onLine(booking, line)) booked++;
    }
    // The mark goes in only once the rows it stands for cannot be lost.
    await this.o.flush();
    await this.o.store.markSettled(batchId, 'ended', booked);
    if (booked > 0) this.o.log.info({ batchId, booked }, 'booked batch results nobody fetched through the gateway');
    return booked;
  }

  private async gone(batchId: string, res: Response): Promise<number> {
    await res.body?.cancel();
    await this.o.store.markSettled(batchId, 'gone', 0);
    this.o.log.warn({ batchId }, 'the upstream no longer has this batch or its results: nothing more can be booked for it');
    return 0;
  }

  private get(target: UpstreamTarget, path: string): Promise<Response> {
    return fetch(`${target.baseUrl}${path}`, {
      headers: { ...target.headers, 'user-agent': USER_AGENT },
      signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.o.timeoutMs)]),
    });
  }
}

/** An error naming the upstream's status and error type, never echoing headers (the key). */
async function upstreamError(res: Response): Promise<Error> {
  const body = (await res.json().catch(() => undefined)) as { error?: { type?: unknown } } | undefined;
  const type = typeof body?.error?.type === 'string' ? ` (${body.error.type})` : '';
  return new Error(`upstream answered ${res.status}${type}`);
}
