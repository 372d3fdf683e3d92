import type { BookedSpend, CompletionRecord, Pico, Usage } from '@tollgate/core';
import type { Registry } from 'prom-client';
import { CappedMetrics, type Update } from './capped-metrics.js';
import { failureOf, lp, PRINCIPAL_LABELS, principalKey, principalLabels, type Labels } from './labels.js';

/** Seconds. LLM calls run from a fraction of a second to many minutes. */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
const FIRST_TOKEN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60];
/** The gateway's own time is expected well under a millisecond. */
const OVERHEAD_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

const TOKEN_TYPES = [
  ['input', 'inputTokens'],
  ['output', 'outputTokens'],
  ['cache_read', 'cacheReadTokens'],
  ['cache_write_5m', 'cacheWrite5mTokens'],
  ['cache_write_1h', 'cacheWrite1hTokens'],
] as const satisfies readonly (readonly [string, keyof Usage])[];

/** What the cost plugin leaves in `state.cost` (read structurally: plugins never import each other). */
interface PricedState {
  cost?: { priced?: { spend?: unknown; unpriced?: unknown } };
}

/**
 * The per-request metrics, each updated from one `request:complete` record. Counters carry
 * the model and principal labels (and `end_user` when enabled); latency histograms carry the
 * model and principal but not the end user, the one unbounded dimension, which would multiply
 * every bucket by the number of end users.
 */
export class RequestMetrics {
  private readonly requests: Update<number>;
  private readonly failed: Update<number>;
  private readonly spend: Update<Pico>;
  private readonly tokens: Update<number>;
  private readonly unpriced: Update<number>;
  private readonly duration: Update<number>;
  private readonly upstream: Update<number>;
  private readonly firstToken: Update<number>;
  private readonly overhead: Update<number>;

  constructor(
    registry: Registry,
    private readonly o: { maxSeries: number; endUserLabels: boolean },
  ) {
    const m = new CappedMetrics(registry, o.maxSeries);
    const who: string[] = [...PRINCIPAL_LABELS];
    const whoAll = o.endUserLabels ? [...who, 'end_user'] : who;
    this.requests = m.counter({ name: 'tollgate_requests_total', help: 'Requests proxied, by status code, route kind and stream flag.', labelNames: ['route', 'status_code', 'stream', ...whoAll] });
    this.failed = m.counter({
      name: 'tollgate_failed_requests_total',
      help: 'Requests that failed: a gateway error (TG_ERR_* code), an upstream error status (code "upstream"), or a client that went away (code "aborted").',
      labelNames: ['route', 'error_type', 'error_code', ...whoAll],
    });
    this.spend = m.usdCounter({
      name: 'tollgate_spend_usd_total',
      help: 'Spend in USD as priced by the cost plugin. Summed exactly in pico-dollars; the exposed value is that sum as a float (about 15 significant digits). The ledger is the record of money.',
      labelNames: whoAll,
    });
    this.tokens = m.counter({ name: 'tollgate_tokens_total', help: 'Tokens used, by type: input, output, cache_read, cache_write_5m, cache_write_1h.', labelNames: ['type', ...whoAll] });
    this.unpriced = m.counter({ name: 'tollgate_unpriced_requests_total', help: 'Billable requests the price book had no price for (recorded at $0 and flagged for repricing).', labelNames: whoAll });
    const route = ['route', 'stream'];
    this.duration = m.histogram({ name: 'tollgate_request_duration_seconds', help: 'From arrival to the last byte sent to the client.', labelNames: [...route, ...who], buckets: DURATION_BUCKETS });
    this.upstream = m.histogram({ name: 'tollgate_upstream_duration_seconds', help: "From the upstream call to the upstream's last byte.", labelNames: [...route, ...who], buckets: DURATION_BUCKETS });
    this.firstToken = m.histogram({ name: 'tollgate_time_to_first_token_seconds', help: 'Streams: from arrival to the first content delta.', labelNames: who, buckets: FIRST_TOKEN_BUCKETS });
    this.overhead = m.histogram({ name: 'tollgate_gateway_overhead_seconds', help: 'Time the gateway itself added: before the upstream call and after its last byte.', labelNames: route, buckets: OVERHEAD_BUCKETS });
  }

  /**
   * Series are found by the principal key (built once per record) and a short key of the
   * metric's own label values (route, status and stream come from fixed alphabets, so a `|`
   * ends them; free text is length-prefixed); label objects only for new series.
   */
  record(r: CompletionRecord): void {
    const eu = this.o.endUserLabels;
    const route = r.routeKind;
    const stream = r.stream ? 'true' : 'false';
    const who = principalKey(r);
    const all = eu ? who + lp(r.endUser ?? '') : who;
    let allLabels: Labels | undefined;
    const labels = (): Labels => (allLabels ??= principalLabels(r, eu));
    this.requests(all, `${route}|${r.status}|${stream}`, () => ({ route, status_code: String(r.status), stream, ...labels() }), 1);
    const failure = failureOf(r);
    if (failure) this.failed(all, lp(route) + lp(failure.error_type) + lp(failure.error_code), () => ({ route, ...failure, ...labels() }), 1);
    this.recordMoney(r.usage, (r.state as PricedState).cost?.priced, all, labels);

    const t = r.timings;
    const whoLabels = (): Labels => (eu ? principalLabels(r, false) : labels());
    const routed = `${route}|${stream}`;
    const routedLabels = () => ({ route, stream, ...whoLabels() });
    this.duration(who, routed, routedLabels, t.durationMs / 1000);
    if (t.upstreamMs !== undefined) this.upstream(who, routed, routedLabels, t.upstreamMs / 1000);
    if (r.stream && t.firstTokenMs !== undefined) this.firstToken(who, '', whoLabels, t.firstTokenMs / 1000);
    if (t.overheadMs !== undefined) this.overhead('', routed, () => ({ route, stream }), t.overheadMs / 1000);
  }

  /** Spend and tokens booked outside a request (batch results): the same counters, the same labels. */
  booked(b: BookedSpend): void {
    const r = { model: b.model, principal: b.principal, endUser: b.endUser } as CompletionRecord;
    const who = principalKey(r);
    const all = this.o.endUserLabels ? who + lp(r.endUser ?? '') : who;
    let allLabels: Labels | undefined;
    this.recordMoney(b.usage, b, all, () => (allLabels ??= principalLabels(r, this.o.endUserLabels)));
  }

  private recordMoney(u: Usage | undefined, priced: { spend?: unknown; unpriced?: unknown } | undefined, all: string, labels: () => Labels): void {
    if (u) {
      for (const [type, field] of TOKEN_TYPES) {
        const n = u[field] as number;
        if (n > 0) this.tokens(all, type, () => ({ type, ...labels() }), n);
      }
    }
    if (!priced) return;
    if (typeof priced.spend === 'bigint' && priced.spend > 0n) this.spend(all, '', labels, priced.spend as Pico);
    if (priced.unpriced === true) this.unpriced(all, '', labels, 1);
  }
}
