import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { DriftMetrics } from './drift-metrics.js';

describe('DriftMetrics', () => {
  it('shows the newest day per model and key, and counts flagged lines', async () => {
    const registry = new Registry();
    const m = new DriftMetrics(registry);
    m.record([
      { date: '2026-12-05', model: 'claude-sonnet-4-6', upstreamKey: 'primary', driftPico: -125_000_000_000n, flagged: true },
      { date: '2026-12-06', model: 'claude-sonnet-4-6', upstreamKey: 'primary', driftPico: -1_050_000_000n, flagged: false },
      { date: '2026-12-06', model: 'claude-haiku-4-5', upstreamKey: 'primary', driftPico: 0n, flagged: false },
    ]);
    const text = await registry.metrics();
    expect(text).toContain('tollgate_spend_drift_usd{model="claude-sonnet-4-6",upstream_key="primary"} -0.00105');
    expect(text).toContain('tollgate_spend_drift_usd{model="claude-haiku-4-5",upstream_key="primary"} 0');
    expect(text).toContain('tollgate_spend_drift_flagged_total{model="claude-sonnet-4-6",upstream_key="primary"} 1');
    expect(text).not.toContain('tollgate_spend_drift_flagged_total{model="claude-haiku-4-5"');
  });
});
