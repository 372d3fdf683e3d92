import type { InjectionToken } from 'tsyringe';
import type { ProviderAdapter } from './provider.js';
import type { Upstream, UpstreamPool } from './upstream-pool.js';

/** Where a request the gateway makes on its own (no client behind it) goes: one upstream of a pool. */
export interface UpstreamTarget {
  /** The upstream's name in the pool. */
  upstream: string;
  /** Its base URL: origin and base path, no trailing slash. */
  baseUrl: string;
  /** The adapter's own request headers (the API version), the upstream's extra headers and its own key, never another upstream's. */
  headers: Record<string, string>;
}

/**
 * Core provides it: the gateway's own requests to a named upstream of a provider's pool, as a
 * background job needs them for something that lives in one upstream account (the cost
 * plugin's batch settlement asks the upstream that created the batch). Never logged: the
 * headers hold a key.
 */
export interface UpstreamTargets {
  /** The upstream `name` of `provider`'s pool, or its first upstream without a name; undefined when there is none such (now). */
  target(provider: string, name?: string): UpstreamTarget | undefined;
}

export const UPSTREAM_TARGETS: InjectionToken<UpstreamTargets> = Symbol.for('tollgate.upstream-targets');

/**
 * The targets of these pools, read when asked (a reload's upstreams at once).
 *
 * @example
 * container.register(UPSTREAM_TARGETS, { useValue: upstreamTargets(pools, adapters) });
 */
export function upstreamTargets(pools: ReadonlyMap<string, UpstreamPool>, adapters: ReadonlyMap<string, ProviderAdapter>): UpstreamTargets {
  return {
    target(provider, name) {
      const pool = pools.get(provider);
      const adapter = adapters.get(provider);
      if (!pool || !adapter) return undefined;
      const u = name === undefined ? pool.upstreams[0] : pool.get(name);
      return u && { upstream: u.name, baseUrl: u.origin + u.basePath, headers: ownHeaders(adapter, u) };
    },
  };
}

function ownHeaders(adapter: ProviderAdapter, u: Upstream): Record<string, string> {
  const headers = { ...adapter.ownRequestHeaders(), ...u.headers };
  // The adapter's own key is for its own base URL (the first upstream's): any other upstream
  // gets its own key, or none.
  if (u.apiKey !== undefined) headers['x-api-key'] = u.apiKey;
  else if (u.origin !== adapter.origin || u.basePath !== adapter.basePath) delete headers['x-api-key'];
  return headers;
}
