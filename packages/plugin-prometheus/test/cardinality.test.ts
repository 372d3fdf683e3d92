import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompletionRecord } from '@tollgate/core';
import { startHarness, type Harness } from './harness.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A completed, priced request for end user `eu-<n>`, as core and the cost plugin record it. */
function record(n: number): CompletionRecord {
  return {
    id: `req-${n}`,
    method: 'POST',
    path: '/anthropic/v1/messages',
    provider: 'anthropic',
    routeKind: 'messages',
    model: 'claude-haiku-4-5',
    stream: false,
    status: 200,
    principal: { kind: 'virtual', keyHash: 'ab'.repeat(32), keyAlias: 'flood', userId: 'ann', teamId: 'search' },
    endUser: `eu-${n}`,
    tags: [],
    usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, webSearchRequests: 0, raw: {} },
    timings: { start: 0, end: 12, durationMs: 12, upstreamMs: 11.8, ttfbMs: 3, overheadMs: 0.2 },
    aborted: false,
    state: { cost: { priced: { spend: 35_000_000n, unpriced: false } } } as CompletionRecord['state'],
  };
}

const heapMiB = (h: Harness) => {
  h.completed.length = 0; // the harness's own list of records is not the plugin's memory
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

describe('the series cap under 100,000 distinct end users', () => {
  const CAP = 10_000;
  let h: Harness;
  let heapFull: number;
  let heapAfter: number;

  beforeAll(async () => {
    h = await startHarness({ bare: true });
    for (let n = 0; n < CAP; n++) h.gw.events.emit('request:complete', record(n));
    heapFull = heapMiB(h);
    for (let n = CAP; n < 100_000; n++) h.gw.events.emit('request:complete', record(n));
    heapAfter = heapMiB(h);
  });
  afterAll(() => h.close());

  it('keeps at most maxSeriesPerMetric (default 10,000) label sets per metric: the most recent', async () => {
    const m = await h.scrape();
    for (const name of ['tollgate_requests_total', 'tollgate_spend_usd_total']) {
      const series = m.find(name);
      expect(series).toHaveLength(CAP);
      expect(new Set(series.map((s) => s.labels.end_user))).toEqual(new Set(Array.from({ length: CAP }, (_, i) => `eu-${90_000 + i}`)));
      expect(m.value('tollgate_metric_series_evicted_total', { metric: name })).toBe(90_000);
    }
    // Two token types per request share one cap: the 10,000 most recent sets are the last 5,000 end users'.
    expect(m.find('tollgate_tokens_total')).toHaveLength(CAP);
    expect(m.find('tollgate_tokens_total', { end_user: 'eu-95000' })).toHaveLength(2);
    expect(m.find('tollgate_tokens_total', { end_user: 'eu-94999' })).toHaveLength(0);
    expect(m.value('tollgate_spend_usd_total', { end_user: 'eu-99999' })).toBe(0.000035);
    // Histograms do not carry the end user: one series for all 100,000 requests.
    expect(m.value('tollgate_request_duration_seconds_count')).toBe(100_000);
  });

  it('holds memory flat once the cap is reached: 90,000 more end users add no lasting heap', () => {
    // Unbounded, the 270,000 extra series would hold well over 100 MiB.
    expect(heapAfter - heapFull).toBeLessThan(8);
  });
});
