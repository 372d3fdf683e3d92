import { normalizeUsage, readableUsage, type Logger, type RequestContext, type Usage } from '@tollgate/core';
import type { BatchOwner, LedgerStore } from './ledger-store.js';
import type { SpendRow } from './spend-row.js';
import { attributionOf, ledgerText, tokenFields, type Priced } from './spend-record.js';

const RESULTS = /^(?:.*)\/v1\/messages\/batches\/([^/?]+)\/results(?:\?.*)?$/;
const CREATE = /\/v1\/messages\/batches(?:\?.*)?$/;
const MAX_BATCHES_REMEMBERED = 1000;

/** What a results fetch carries from onRequest to its lines. */
export interface BatchFetch {
  batchId: string;
  owner: BatchOwner;
  settled: Set<string>;
}

type PriceFn = (model: string, usage: Usage | undefined, at: Date) => Priced;

/**
 * Books Message Batches: a batch created through the gateway is remembered with its creator;
 * when its results are fetched through the gateway, each succeeded result is priced at batch
 * rates and booked to the creator exactly once, however often the results are fetched
 * (errored, canceled and expired results cost nothing). Results that are never fetched
 * through the gateway are booked by the background job (BatchSettlementJob) once the batch
 * ends.
 *
 * The creator is the create call's own ledger row (its `batch_id` is the batch it created), so
 * it is as durable as the ledger: queued, retried and spooled to disk while the database is
 * down, instead of a separate write on the response path that an outage would lose. Until
 * that row is written, the creator is also kept in memory (bounded).
 */
export class BatchSettlement {
  private readonly settled = new Map<string, Promise<Set<string>>>();
  private readonly created = new Map<string, BatchOwner>();

  constructor(
    private readonly store: LedgerStore,
    private readonly price: PriceFn,
    private readonly book: (row: SpendRow) => void,
    private readonly log: Logger,
  ) {}

  /** The batch id when this request fetches batch results. */
  resultsBatchId(ctx: RequestContext): string | undefined {
    return ctx.route.kind === 'batches' && ctx.request.method === 'GET' ? RESULTS.exec(ctx.route.upstreamPath)?.[1] : undefined;
  }

  /**
   * The id of the batch a create call's response describes, remembered with its creator; the
   * caller puts it on the call's ledger row. Undefined for every other batch call.
   */
  remember(ctx: RequestContext, body: unknown): string | undefined {
    const b = body as { type?: unknown; id?: unknown } | null;
    if (ctx.request.method !== 'POST' || !CREATE.test(ctx.route.upstreamPath) || b?.type !== 'message_batch' || typeof b.id !== 'string') return undefined;
    this.created.set(b.id, { batch_id: b.id, ...attributionOf(ctx), created_at: ctx.startTime, upstream: ledgerText(ctx.upstream) });
    if (this.created.size > MAX_BATCHES_REMEMBERED) this.created.delete(this.created.keys().next().value!);
    return b.id;
  }

  /** Who created the batch, and on which upstream; undefined for batches made elsewhere. */
  async owner(batchId: string): Promise<BatchOwner | undefined> {
    return this.created.get(batchId) ?? (await this.store.batchOwner(batchId));
  }

  /** Loads the batch's creator (unless given) and what is already booked; undefined for batches made elsewhere. */
  async prepare(batchId: string, known?: BatchOwner): Promise<BatchFetch | undefined> {
    const owner = known ?? (await this.owner(batchId));
    if (!owner) {
      this.log.debug({ batchId }, 'results of a batch not created through this gateway: not booked');
      return undefined;
    }
    let settled = this.settled.get(batchId);
    if (!settled) {
      settled = this.store.settledResults(batchId);
      this.settled.set(batchId, settled);
      if (this.settled.size > MAX_BATCHES_REMEMBERED) this.settled.delete(this.settled.keys().next().value!);
    }
    return { batchId, owner, settled: await settled };
  }

  /** One JSONL result line; true when it booked a result. Synchronous: called from onChunk. */
  onLine(fetch: BatchFetch, line: string): boolean {
    let r: { custom_id?: unknown; result?: { type?: unknown; message?: { id?: unknown; model?: unknown; usage?: Record<string, unknown> } } };
    try {
      r = JSON.parse(line);
    } catch {
      this.log.warn({ batchId: fetch.batchId }, 'unreadable batch result line');
      return false;
    }
    const message = r.result?.message;
    if (r.result?.type !== 'succeeded' || typeof r.custom_id !== 'string' || !message?.usage) return false;
    const requestId = ledgerText(`${fetch.batchId}:${r.custom_id}`)!;
    if (fetch.settled.has(requestId)) return false;
    fetch.settled.add(requestId);
    const read = readableUsage(normalizeUsage(message.usage));
    const usage = read && { ...read, serviceTier: 'batch' };
    const model = typeof message.model === 'string' ? ledgerText(message.model) : null;
    // The owner row carries the batch's attribution and upstream under the ledger's own column names.
    const { batch_id: _batchId, created_at: createdAt, ...owner } = fetch.owner;
    const priced: Priced = model ? this.price(model, usage, new Date(createdAt)) : { spend: 0n, unpriced: true };
    this.book({
      request_id: requestId,
      upstream_request_id: null,
      message_id: typeof message.id === 'string' ? ledgerText(message.id) : null,
      call_type: 'batch_result',
      model,
      ...owner,
      status: 200,
      ...tokenFields(usage),
      spend: priced.spend,
      unpriced: priced.unpriced,
      stream: false,
      aborted: false,
      batch_id: fetch.batchId,
      start_time: createdAt,
      end_time: Date.now(),
      completion_start_time: null,
      // A batch result belongs to no interactive session; the settlement job reads it with
      // the gateway's own key.
      session_id: null,
      agent_id: null,
      client: null,
      billing: 'gateway',
      budget_exempt: false,
      served_model: ledgerText(priced.servedModel),
      estimated: priced.estimated ?? false,
    });
    return true;
  }
}
