import { GatewayError, picoToUsd, usdToPico, type Logger, type Pico } from '@tollgate/core';
import { exactSpendSum, joinSpendSum, type LedgerStore } from './ledger-store.js';
import type { PriceBook } from './price-book.js';
import { sql } from '@tollgate/storage';

/** The `reconcile` config: Anthropic's Admin API cost report against the ledger. */
export interface ReconcileConfig {
  /** Admin API key (`sk-ant-admin…`); else env ANTHROPIC_ADMIN_KEY. */
  adminKey?: string;
  /** Upstream key name (as reported) → Anthropic API key id (`apikey_…`). */
  apiKeyIds: Record<string, string>;
  /** Drift beyond this many USD (either way) is flagged. */
  thresholdUsd: string;
  /** Run the reconciliation of the last `lookbackDays` this often; 0: only on demand. */
  everyMs: number;
  lookbackDays: number;
}

export interface ReconcileLine {
  date: string;
  model: string;
  upstream_key: string;
  ledger_usd: string;
  anthropic_usd: string;
  drift_usd: string;
  flagged: boolean;
  /** Exact drift, pico-USD (ledger − Anthropic). */
  driftPico: Pico;
}

export interface ReconcileReport {
  start_date: string;
  end_date: string;
  threshold_usd: string;
  lines: ReconcileLine[];
}

interface Upstream {
  /** e.g. https://api.anthropic.com (with its base path). */
  baseUrl: string;
  fetchTimeoutMs: number;
}

const DAY = 86_400_000;
const PICO_PER_CENT = 10_000_000_000n;

/** The line of ledger spend no mapped upstream key can be named for. */
export const UNATTRIBUTED = 'unattributed';
/** The name of the one upstream of the `baseUrl`/`apiKey` shorthand (core's upstreamList). */
const SHORTHAND_UPSTREAM = 'default';

/**
 * Compares the ledger with Anthropic's cost report per UTC day × model × upstream key, from
 * `from` (rounded down to its day) to `to`. The ledger side sums the exact spend of messages
 * and batch results by the model that served them (ids resolved through the price book, so
 * an alias and its dated id meet) and by the upstream that served them (the `upstream`
 * column, named through `apiKeyIds`); the Anthropic side pages through `GET
 * /v1/organizations/cost_report` grouped by `api_key_id` and `description`, keeping the keys
 * mapped in `apiKeyIds`. See `upstreamLines` for rows that name no mapped upstream.
 */
export async function reconcile(opts: { store: LedgerStore; book: PriceBook; config: ReconcileConfig; adminKey: string; upstream: Upstream; from: number; to: number }): Promise<ReconcileReport> {
  const { config } = opts;
  const start = Math.floor(opts.from / DAY) * DAY;
  if (Object.keys(config.apiKeyIds).length === 0) throw new GatewayError('TG_ERR_CONFIG', 'reconcile.apiKeyIds is empty: map the upstream key(s) to their Anthropic API key ids (apikey_…)');
  const { byId, byUpstream } = upstreamLines(config.apiKeyIds);
  const canonical = (m: string) => opts.book.canonical(m) ?? m;
  const cells = new Map<string, { date: string; model: string; key: string; ledger: Pico; anthropic: Pico }>();
  const cell = (date: string, model: string, key: string) => {
    const k = `${date}\0${model}\0${key}`;
    let c = cells.get(k);
    if (!c) cells.set(k, (c = { date, model, key, ledger: 0n, anthropic: 0n }));
    return c;
  };
  for (const r of await ledgerByDay(opts.store, start, opts.to)) {
    const key = byUpstream(r.upstream);
    if (key !== undefined) cell(r.date, canonical(r.model), key).ledger += r.spend;
  }
  for (const r of await costReport(opts.upstream, opts.adminKey, start, opts.to)) {
    const key = byId.get(r.apiKeyId);
    if (key !== undefined) cell(r.date, canonical(r.model), key).anthropic += r.spend;
  }
  const threshold = usdToPico(config.thresholdUsd);
  const lines = [...cells.values()]
    .sort((a, b) => (a.date + a.model + a.key < b.date + b.model + b.key ? -1 : 1))
    .map((c) => {
      const drift = c.ledger - c.anthropic;
      return {
        date: c.date,
        model: c.model,
        upstream_key: c.key,
        ledger_usd: picoToUsd(c.ledger),
        anthropic_usd: picoToUsd(c.anthropic),
        drift_usd: picoToUsd(drift),
        flagged: (drift < 0n ? -drift : drift) > threshold,
        driftPico: drift,
      };
    });
  return { start_date: new Date(start).toISOString(), end_date: new Date(opts.to).toISOString(), threshold_usd: config.thresholdUsd, lines };
}

/**
 * The line each mapped Anthropic key id, and each ledger row's upstream, is compared on: the
 * upstream's name (names sharing one key id share a line, `a+b`: Anthropic reports per key).
 * A row that names no upstream (written before the ledger had the column) or the shorthand's
 * `default` when that is not mapped goes to the one mapped key when there is exactly one (the
 * one-key setup), else to `unattributed`. A row of any other upstream not mapped is left out,
 * as the report's keys that are not mapped are.
 */
export function upstreamLines(apiKeyIds: Record<string, string>): { byId: Map<string, string>; byUpstream: (upstream: string | null) => string | undefined } {
  const byId = new Map<string, string>();
  for (const [name, id] of Object.entries(apiKeyIds)) byId.set(id, byId.has(id) ? `${byId.get(id)}+${name}` : name);
  const named = new Map(Object.entries(apiKeyIds).map(([name, id]) => [name, byId.get(id)!]));
  const fallback = byId.size === 1 ? [...byId.values()][0]! : UNATTRIBUTED;
  const byUpstream = (upstream: string | null) => {
    if (upstream === null) return fallback;
    return named.get(upstream) ?? (upstream === SHORTHAND_UPSTREAM ? fallback : undefined);
  };
  return { byId, byUpstream };
}

/** Logs each flagged line (the drift, never a key). */
export function logDrift(report: ReconcileReport, log: Logger): void {
  for (const l of report.lines) {
    if (l.flagged) log.warn({ date: l.date, model: l.model, upstreamKey: l.upstream_key, ledgerUsd: l.ledger_usd, anthropicUsd: l.anthropic_usd, driftUsd: l.drift_usd }, "spend drift: the ledger and Anthropic's cost report disagree beyond the threshold");
  }
}

async function ledgerByDay(store: LedgerStore, from: number, to: number): Promise<Array<{ date: string; model: string; upstream: string | null; spend: Pico }>> {
  const day = sql<string>`cast(start_time / ${sql.lit(DAY)} as text)`;
  const model = sql<string>`coalesce(served_model, model)`;
  const rows = await store.db
    .selectFrom('tollgate_spend_logs')
    .select([day.as('day'), model.as('m'), 'upstream', ...exactSpendSum(sql.ref('spend'))])
    .where('start_time', '>=', from)
    .where('start_time', '<', to)
    .where('call_type', 'in', ['messages', 'batch_result'])
    .where(sql<boolean>`coalesce(served_model, model) is not null`)
    .groupBy([day, model, 'upstream'])
    .execute();
  return rows.map((r) => ({ date: new Date(Number(r.day) * DAY).toISOString().slice(0, 10), model: r.m, upstream: r.upstream, spend: joinSpendSum(r) }));
}

async function costReport(upstream: Upstream, adminKey: string, from: number, to: number): Promise<Array<{ date: string; model: string; apiKeyId: string; spend: Pico }>> {
  const out = [];
  let page: string | undefined;
  do {
    const q = new URLSearchParams({ starting_at: new Date(from).toISOString(), ending_at: new Date(to).toISOString(), bucket_width: '1d', limit: '31' });
    q.append('group_by[]', 'api_key_id');
    q.append('group_by[]', 'description');
    if (page) q.set('page', page);
    const res = await fetch(`${upstream.baseUrl}/v1/organizations/cost_report?${q}`, {
      headers: { 'x-api-key': adminKey, 'anthropic-version': '2023-06-01' },
      signal: AbortSignal.timeout(upstream.fetchTimeoutMs),
    });
    if (!res.ok) throw new GatewayError('TG_ERR_UPSTREAM_FAILED', `Anthropic's cost report answered HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const body = (await res.json()) as CostReportPage;
    for (const bucket of body.data) {
      const date = bucket.starting_at.slice(0, 10);
      for (const r of bucket.results) {
        if (r.model && r.api_key_id) out.push({ date, model: r.model, apiKeyId: r.api_key_id, spend: centsToPico(r.amount) });
      }
    }
    page = body.has_more && body.next_page ? body.next_page : undefined;
  } while (page);
  return out;
}

interface CostReportPage {
  data: Array<{ starting_at: string; results: Array<{ amount: string; model: string | null; api_key_id?: string | null }> }>;
  has_more: boolean;
  next_page: string | null;
}

/** Cents as a decimal string ("123.45" = $1.2345) → pico-dollars; digits below a pico-dollar are dropped. */
export function centsToPico(cents: string): Pico {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(cents);
  if (!m) throw new GatewayError('TG_ERR_UPSTREAM_FAILED', `Anthropic's cost report has an amount that is not a number: ${JSON.stringify(cents)}`);
  const pico = BigInt(m[2]!) * PICO_PER_CENT + BigInt((m[3] ?? '').slice(0, 10).padEnd(10, '0'));
  return m[1] ? -pico : pico;
}
