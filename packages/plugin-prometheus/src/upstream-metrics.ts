import type { HealthState, UpstreamSnapshot, UpstreamStats } from '@tollgate/core';
import { Gauge, type Registry } from 'prom-client';
import { mirroredCounter } from './source-metrics.js';

const STATES: readonly HealthState[] = ['ok', 'cooldown', 'open', 'half-open', 'unhealthy', 'capped'];
const COUNTS = [
  ['tollgate_upstream_requests_total', 'Attempts sent to each pool upstream (a failed-over request counts on each upstream it tried).', 'requests'],
  ['tollgate_upstream_rate_limited_total', 'Answers 429 (rate_limit_error) from each pool upstream.', 'rateLimited'],
  ['tollgate_upstream_overloaded_total', 'Answers 529 (overloaded_error) from each pool upstream.', 'overloaded'],
  ['tollgate_upstream_failures_total', 'Connection errors, timeouts and 5xx answers from each pool upstream.', 'failures'],
  ['tollgate_upstream_retries_total', 'Attempts on each pool upstream that the gateway retried on another one.', 'retries'],
] as const;

/**
 * The upstream pools (UPSTREAM_STATS), read at each scrape: per upstream its attempts,
 * 429/529 answers, failures, retries, state (one series per state, 1 for the current one),
 * seconds left in a cooldown or open circuit, requests in flight and rate-limit headroom.
 */
export function registerUpstreamMetrics(registry: Registry, stats: UpstreamStats): void {
  const labelNames: ('provider' | 'upstream')[] = ['provider', 'upstream'];
  const each = <T>(read: (u: UpstreamSnapshot) => T) => stats.snapshot().flatMap((p) => p.upstreams.map((u) => [{ provider: p.provider, upstream: u.name }, read(u)] as const));
  for (const [name, help, field] of COUNTS) mirroredCounter(registry, { name, help, labelNames }, () => each((u) => u[field]).map(([l, v]) => [l, v]));
  const gauge = (name: string, help: string, read: (u: UpstreamSnapshot, now: number) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const [labels, u] of each((u) => u)) {
          const v = read(u, now);
          if (v !== undefined) this.set(labels, v);
        }
      },
    });
  new Gauge({
    name: 'tollgate_upstream_state',
    help: 'The state of each pool upstream: 1 on its current state (ok, cooldown, open, half-open, unhealthy, capped), 0 on the others.',
    labelNames: ['provider', 'upstream', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, u] of each((u) => u)) for (const state of STATES) this.set({ ...labels, state }, u.state === state ? 1 : 0);
    },
  });
  gauge('tollgate_upstream_cooldown_seconds', 'Seconds until a pool upstream in cooldown, with an open circuit or unhealthy is tried again (0 when usable).', (u, now) => (u.until === undefined ? 0 : Math.max(0, (u.until - now) / 1000)));
  gauge('tollgate_upstream_in_flight_requests', 'Requests in flight on each pool upstream.', (u) => u.inFlight);
  gauge('tollgate_upstream_headroom_ratio', "The least share of a rate limit each pool upstream had left at its last answer (anthropic-ratelimit-* headers); absent when it did not say.", (u) => u.headroom);
}
