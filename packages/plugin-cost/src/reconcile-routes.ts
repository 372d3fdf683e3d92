import { ENV, GatewayError, type Logger, type PluginApi, type ProviderAdapter } from '@tollgate/core';
import type { LedgerStore } from './ledger-store.js';
import type { PriceBook } from './price-book.js';
import { logDrift, reconcile, type ReconcileConfig, type ReconcileReport } from './reconcile.js';
import { readParams, timeRange } from './spend-params.js';
import { requireSpendAdmin } from './spend-routes.js';

const DAY = 86_400_000;

/** The last reconciliation's lines, for metrics (`tollgate_spend_drift_usd`). */
export interface DriftState {
  last: ReconcileReport | undefined;
}

/**
 * `GET /spend/reconcile?start_date&end_date` (what `tollgate spend reconcile` calls), and the
 * optional job that reconciles the last `lookbackDays` every `everyMs`. Flagged lines are
 * logged; the admin key is read from config or env ANTHROPIC_ADMIN_KEY and never echoed.
 */
export function registerReconcile(api: PluginApi<any>, deps: { store: LedgerStore; book: PriceBook; upstream: ProviderAdapter; config: ReconcileConfig; log: Logger }): DriftState {
  const state: DriftState = { last: undefined };
  const run = async (from: number, to: number) => {
    const adminKey = deps.config.adminKey ?? api.resolve(ENV).ANTHROPIC_ADMIN_KEY;
    if (!adminKey) throw new GatewayError('TG_ERR_CONFIG', 'reconciliation needs an Anthropic Admin API key: set cost.reconcile.adminKey or env ANTHROPIC_ADMIN_KEY');
    const upstream = { baseUrl: `${deps.upstream.origin}${deps.upstream.basePath}`, fetchTimeoutMs: 30_000 };
    const report = await reconcile({ store: deps.store, book: deps.book, config: deps.config, adminKey, upstream, from, to });
    logDrift(report, deps.log);
    state.last = report;
    api.events.emit('spend:reconciled', report.lines.map((l) => ({ date: l.date, model: l.model, upstreamKey: l.upstream_key, driftPico: l.driftPico, flagged: l.flagged })));
    return report;
  };
  api.route('GET', '/spend/reconcile', async (req) => {
    requireSpendAdmin(api, req);
    const range = timeRange(readParams(req.query, ['start_date', 'end_date']));
    const to = range.to ?? Date.now();
    const report = await run(range.from ?? to - 7 * DAY, to);
    return { body: { ...report, lines: report.lines.map(({ driftPico: _d, ...line }) => line) } };
  });
  const { everyMs, lookbackDays } = deps.config;
  if (everyMs > 0) {
    const tick = () => {
      const now = Date.now();
      run(now - lookbackDays * DAY, now).catch((err: unknown) => deps.log.error({ reason: (err as Error).message }, 'the scheduled reconciliation failed; it runs again at the next interval'));
    };
    const timer = setInterval(tick, everyMs);
    timer.unref();
    api.onClose(() => clearInterval(timer));
  }
  return state;
}
