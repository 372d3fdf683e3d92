import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePlugin, KEY_LIMITS, SINK_STATS, SPEND_QUEUE, usdToPico, type CompletionRecord, type KeyLimitsSnapshot, type SinkStats } from '@tollgate/core';
import type { Exposition } from './exposition.js';
import { startHarness, type Harness } from './harness.js';

const otlp: SinkStats = { name: 'otlp', type: 'otlp', sent: 120, dropped: 7, lost: { queueFull: 4, rejected: 1, retriesExhausted: 2, shutdown: 0 }, failed: 9, queueDepth: 33 };

const HASH = 'f00d'.repeat(16);
let limits: KeyLimitsSnapshot | undefined = { keyHash: HASH, keyAlias: 'app', maxBudget: usdToPico('20'), remainingBudget: usdToPico('12.5'), rpmLimit: 60 };

/** Stands in for the auth, cost and logging plugins: what they report through core's tokens. */
const sources = definePlugin({
  name: 'sources',
  priority: 100,
  setup(api) {
    api.provide(SPEND_QUEUE, { state: () => ({ queued: 3, spooled: 250, writeFailures: 6, rejected: 2, lost: 5, healthy: false }) });
    api.provide(SINK_STATS, { sinks: () => [otlp] });
    api.provide(KEY_LIMITS, { get: (hash) => (hash === HASH ? limits : undefined) });
  },
});

describe('metrics read from other plugins at scrape time', () => {
  let h: Harness;
  let m: Exposition;
  beforeAll(async () => {
    h = await startHarness({ bare: true, plugins: [sources] });
    m = await h.scrape();
  });
  afterAll(() => h.close());

  it("the spend ledger's queue depth, write failures, rejected and lost rows, and health", () => {
    expect([m.value('tollgate_spend_queue_depth', { queue: 'memory' }), m.value('tollgate_spend_queue_depth', { queue: 'spool' })]).toEqual([3, 250]);
    expect(m.value('tollgate_spend_write_failures_total')).toBe(6);
    expect(m.value('tollgate_spend_rows_rejected_total')).toBe(2);
    expect(m.value('tollgate_spend_rows_lost_total')).toBe(5);
    expect(m.value('tollgate_spend_ledger_healthy')).toBe(0);
  });

  it('the logging sinks: records sent, dropped by reason, failed attempts, queue depth', () => {
    const sink = { sink: 'otlp', type: 'otlp' };
    expect(m.value('tollgate_sink_records_sent_total', sink)).toBe(120);
    expect(Object.fromEntries(m.find('tollgate_sink_records_dropped_total', sink).map((s) => [s.labels.reason, s.value]))).toEqual({ queue_full: 4, rejected: 1, retries_exhausted: 2, shutdown: 0 });
    expect(m.value('tollgate_sink_delivery_failures_total', sink)).toBe(9);
    expect(m.value('tollgate_sink_queue_depth', sink)).toBe(33);
  });

  it('follows the sources: the next scrape shows their new numbers', async () => {
    otlp.sent = 121;
    expect((await h.scrape()).value('tollgate_sink_records_sent_total')).toBe(121);
  });

  it("a key's budget and limits, read when scraped; the last known values while the auth plugin does not hold the key", async () => {
    const key = { key_hash: HASH.slice(0, 12), key_alias: 'app' };
    expect(m.find('tollgate_key_remaining_budget_usd')).toEqual([]);
    h.gw.events.emit('request:complete', { id: 'r1', routeKind: 'messages', stream: false, status: 200, aborted: false, tags: [], timings: { start: 0, end: 1, durationMs: 1 }, state: {}, principal: { kind: 'virtual', keyHash: HASH, keyAlias: 'app' } } as unknown as CompletionRecord);
    const read = async () => {
      const s = await h.scrape();
      return ['tollgate_key_remaining_budget_usd', 'tollgate_key_max_budget_usd', 'tollgate_key_rpm_limit', 'tollgate_key_tpm_limit'].map((name) => s.find(name, key)[0]?.value);
    };
    expect(await read()).toEqual([12.5, 20, 60, undefined]);
    limits = { ...limits!, remainingBudget: usdToPico('-0.25'), tpmLimit: 1000 };
    expect(await read()).toEqual([-0.25, 20, 60, 1000]);
    limits = undefined;
    expect(await read()).toEqual([-0.25, 20, 60, 1000]);
  });

  it('includes Node process metrics only when asked (processMetrics, on by default)', async () => {
    expect(m.find('process_cpu_user_seconds_total')).toEqual([]);
    const withProcess = await startHarness({ bare: true, prometheus: { processMetrics: true } });
    try {
      expect((await withProcess.scrape()).value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    } finally {
      await withProcess.close();
    }
  });
});
