import { normalizeUsage, type Logger, type RequestContext } from '@tollgate/core';
import type { BatchOwner, LedgerStore } from './ledger-store.js';
import type { SpendRow } from './spend-row.js';
import { tokenFields, type Priced } from './spend-record.js';

const RESULTS = /^(?:.*)\/v1\/messages\/batches\/([^/?]+)\/results(?:\?.*)?$/;
const MAX_BATCHES_REMEMBERED = 1000;

/** What a results fetch carries from onRequest to its lines. */
export interface BatchFetch {
  batchId: string;
  owner: BatchOwner;
  settled: Set<string>;
}

type PriceFn = (model: string, usage: ReturnType<typeof normalizeUsage>, at: Date) => Priced;

/**
 * Books Message Batches: a batch created through the gateway is remembered with its creator;
 * when its results are fetched through the gateway, each succeeded result is priced at batch
 * rates and booked to the creator exactly once, however often the results are fetched
 * (errored, canceled and expired results cost nothing). Results fetched straight from
 * Anthropic are not seen, so not booked.
 */
export class BatchSettlement {
  private readonly settled = new Map<string, Promise<Set<string>>>();

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

  /** Remembers who created a batch (from the create call's response). */
  async remember(ctx: RequestContext, body: unknown): Promise<void> {
    const b = body as { type?: unknown; id?: unknown } | null;
    if (ctx.request.method !== 'POST' || b?.type !== 'message_batch' || typeof b.id !== 'string') return;
    const p = ctx.principal;
    await this.store.rememberBatch({
      batch_id: b.id,
      api_key: p?.keyHash ?? null,
      key_alias: p?.keyAlias ?? null,
      user_id: p?.userId ?? null,
      team_id: p?.teamId ?? null,
      end_user: ctx.endUser ?? null,
      request_tags: ctx.tags,
      created_at: ctx.startTime,
    });
  }

  /** Loads the batch's creator and what is already booked; undefined for batches made elsewhere. */
  async prepare(batchId: string): Promise<BatchFetch | undefined> {
    const owner = await this.store.batchOwner(batchId);
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

  /** One JSONL result line. Synchronous: called from onChunk. */
  onLine(fetch: BatchFetch, line: string): void {
    let r: { custom_id?: unknown; result?: { type?: unknown; message?: { id?: unknown; model?: unknown; usage?: Record<string, unknown> } } };
    try {
      r = JSON.parse(line);
    } catch {
      this.log.warn({ batchId: fetch.batchId }, 'unreadable batch result line');
      return;
    }
    const message = r.result?.message;
    if (r.result?.type !== 'succeeded' || typeof r.custom_id !== 'string' || !message?.usage) return;
    const requestId = `${fetch.batchId}:${r.custom_id}`;
    if (fetch.settled.has(requestId)) return;
    fetch.settled.add(requestId);
    const usage = normalizeUsage(message.usage);
    const model = typeof message.model === 'string' ? message.model : null;
    const priced = model ? this.price(model, { ...usage, serviceTier: 'batch' }, new Date(fetch.owner.created_at)) : { spend: 0n, unpriced: true };
    const o = fetch.owner;
    this.book({
      request_id: requestId,
      upstream_request_id: null,
      message_id: typeof message.id === 'string' ? message.id : null,
      call_type: 'batch_result',
      model,
      api_key: o.api_key,
      key_alias: o.key_alias,
      user_id: o.user_id,
      team_id: o.team_id,
      end_user: o.end_user,
      request_tags: o.request_tags,
      status: 200,
      ...tokenFields({ ...usage, serviceTier: 'batch' }),
      spend: priced.spend,
      unpriced: priced.unpriced,
      stream: false,
      aborted: false,
      batch_id: fetch.batchId,
      start_time: o.created_at,
      end_time: Date.now(),
      completion_start_time: null,
    });
  }
}
