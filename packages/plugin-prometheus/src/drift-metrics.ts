import { picoToNumber, type SpendDrift } from '@tollgate/core';
import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Reconciliation with the provider's bill (`spend:reconciled`): the drift of the newest day
 * each model and upstream key was compared on (ledger − bill, USD), and a count of lines
 * flagged over the threshold. Models and keys are few (the bill's), so the labels stay bounded.
 */
export class DriftMetrics {
  private readonly drift: Gauge<'model' | 'upstream_key'>;
  private readonly flagged: Counter<'model' | 'upstream_key'>;

  constructor(registry: Registry) {
    this.drift = new Gauge({ name: 'tollgate_spend_drift_usd', help: "Ledger minus Anthropic's cost report, USD, on the newest day the last reconciliation compared, per model and upstream key.", labelNames: ['model', 'upstream_key'], registers: [registry] });
    this.flagged = new Counter({ name: 'tollgate_spend_drift_flagged_total', help: 'Day × model × upstream key lines a reconciliation flagged as drifting beyond the threshold.', labelNames: ['model', 'upstream_key'], registers: [registry] });
  }

  record(lines: readonly SpendDrift[]): void {
    const newest = new Map<string, SpendDrift>();
    for (const l of lines) {
      const k = `${l.model}\0${l.upstreamKey}`;
      const seen = newest.get(k);
      if (!seen || seen.date < l.date) newest.set(k, l);
      if (l.flagged) this.flagged.inc({ model: l.model, upstream_key: l.upstreamKey });
    }
    for (const l of newest.values()) this.drift.set({ model: l.model, upstream_key: l.upstreamKey }, picoToNumber(l.driftPico));
  }
}
