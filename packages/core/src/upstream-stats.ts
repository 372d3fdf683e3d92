import type { InjectionToken } from 'tsyringe';
import type { UpstreamSnapshot } from './upstream-health.js';

/** The upstreams of one provider's pool, as they are now. */
export interface ProviderUpstreams {
  provider: string;
  upstreams: UpstreamSnapshot[];
}

/**
 * Core provides it: each pool's upstreams with their health and counts, read by exporters
 * at scrape time (the prometheus plugin) and by `/health/upstreams`.
 */
export interface UpstreamStats {
  snapshot(): ProviderUpstreams[];
}

export const UPSTREAM_STATS: InjectionToken<UpstreamStats> = Symbol.for('tollgate.upstream-stats');
