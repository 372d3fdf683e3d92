import { GatewayError, picoToUsd, type PluginApi, type Usage } from '@tollgate/core';
import { rollupRepriced } from './ledger-rollups.js';
import type { LedgerStore } from './ledger-store.js';
import type { Priced } from './spend-record.js';
import type { SpendRow } from './spend-row.js';
import { requireSpendAdmin } from './spend-routes.js';
import type { RunningTotals } from './spend-totals.js';

type Pricer = (model: string, usage: Usage, at: Date) => Priced;

/**
 * `POST /spend/reprice` {model?, since?}: prices the ledger's unpriced and estimated rows
 * (from `since`, an ISO time, on) with the book now in force (after a price was added), at
 * each row's own request time and served model, and moves the running totals by the
 * difference. Rows still without a price stay as they are, and so do rows without a model or
 * without tokens. Priced rows are never touched: a price change leaves them at the price of
 * their day.
 */
export function registerReprice(api: PluginApi<any>, store: LedgerStore, totals: RunningTotals, price: Pricer): void {
  api.route('POST', '/spend/reprice', async (req) => {
    requireSpendAdmin(api, req);
    const body = ((await req.json()) ?? {}) as { model?: unknown; since?: unknown };
    if (body.model !== undefined && typeof body.model !== 'string') throw new GatewayError('TG_ERR_BAD_REQUEST', 'model must be a string');
    const since = body.since === undefined ? undefined : Date.parse(String(body.since));
    if (since !== undefined && (typeof body.since !== 'string' || Number.isNaN(since))) throw new GatewayError('TG_ERR_BAD_REQUEST', 'since must be an ISO date or time');
    let q = store.db.selectFrom('tollgate_spend_logs').selectAll().where((w) => w.or([w('unpriced', '=', 1), w('estimated', '=', 1)]));
    if (body.model) q = q.where('model', '=', body.model);
    if (since !== undefined) q = q.where('start_time', '>=', since);
    const rows = await q.execute();
    let repriced = 0;
    let added = 0n;
    for (const r of rows) {
      // No model, or no tokens: a response that carried no usage; its cost cannot be known.
      if (r.model === null || Number(r.prompt_tokens) + Number(r.completion_tokens) + Number(r.web_search_requests) === 0) continue;
      const priced = price(r.served_model ?? r.model, usageOf(r), new Date(Number(r.start_time)));
      if (priced.unpriced || priced.estimated) continue;
      const old = BigInt(r.spend);
      const delta = priced.spend - old;
      const updated = await store.db.transaction().execute(async (tx) => {
        const [u] = await tx
          .updateTable('tollgate_spend_logs')
          .set({ spend: priced.spend.toString(), unpriced: 0, estimated: 0 })
          .where('request_id', '=', r.request_id)
          .where('unpriced', '=', r.unpriced)
          .where('estimated', '=', r.estimated)
          .where('spend', '=', r.spend)
          .execute();
        if (u.numUpdatedRows === 0n) return false;
        // The rollups move with the row, in its transaction: by the difference, and out of unpriced.
        if (store.shape.rollups) await rollupRepriced(tx, r, delta, Number(r.unpriced) === 1);
        return true;
      });
      // Another reprice (here or on a replica) got there first: its totals already count it.
      if (!updated) continue;
      totals.add({ ...(r as unknown as SpendRow), request_tags: JSON.parse(r.request_tags) as string[], spend: delta });
      repriced++;
      added += delta;
    }
    return { body: { repriced, still_unpriced: rows.length - repriced, added_spend: picoToUsd(added) } };
  });
}

function usageOf(r: { [k: string]: unknown }): Usage {
  const n = (k: string) => Number(r[k] ?? 0);
  return {
    inputTokens: n('input_tokens'),
    outputTokens: n('output_tokens'),
    cacheReadTokens: n('cache_read_input_tokens'),
    cacheWriteTokens: n('cache_creation_input_tokens'),
    cacheWrite5mTokens: n('cache_creation_5m_tokens'),
    cacheWrite1hTokens: n('cache_creation_1h_tokens'),
    webSearchRequests: n('web_search_requests'),
    serviceTier: (r.service_tier as string | null) ?? undefined,
    inferenceGeo: (r.inference_geo as string | null) ?? undefined,
    speed: (r.speed as string | null) ?? undefined,
    raw: {},
  };
}
