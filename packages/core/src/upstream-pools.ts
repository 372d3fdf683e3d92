import type { DependencyContainer } from 'tsyringe';
import { ADMIN_GUARD } from './admin-guard.js';
import type { AnthropicProviderConfig } from './config-schema.js';
import type { ProviderAdapter } from './provider.js';
import type { RouteReply, RouteRequest } from './router.js';
import type { UpstreamConfig } from './upstream-config.js';
import type { SharedCooldown } from './upstream-health.js';
import { UpstreamPool } from './upstream-pool.js';

/**
 * One pool per provider: Anthropic's from its configured upstreams, a plugin's provider as a
 * pool of one at its adapter's origin (its adapter sets its own credential).
 *
 * @example
 * addPools(pools, adapters, config.providers.anthropic, upstreamList(config.providers.anthropic));
 */
export function addPools(
  pools: Map<string, UpstreamPool>,
  adapters: ReadonlyMap<string, ProviderAdapter>,
  anthropic: AnthropicProviderConfig,
  upstreams: UpstreamConfig[],
  share?: (provider: string, c: SharedCooldown) => void,
): void {
  for (const [name, a] of adapters) {
    const list: UpstreamConfig[] =
      name === 'anthropic' ? upstreams : [{ name: 'default', baseUrl: a.origin + a.basePath, weight: 1, maxConcurrency: null, rpm: null, tpm: null, headers: {} }];
    pools.set(name, new UpstreamPool(name, anthropic.failover, a.connections, list, share && ((c) => share(name, c))));
  }
}

/**
 * `GET /health/upstreams`: each pool's upstreams with their state (ok, cooldown, open,
 * half-open, unhealthy, capped), until when, requests in flight, headroom and counts. Names
 * only, never keys. Needs admin credentials when an auth plugin provides them.
 */
export function upstreamsReport(container: DependencyContainer, req: RouteRequest, pools: ReadonlyMap<string, UpstreamPool>): RouteReply {
  if (container.isRegistered(ADMIN_GUARD, true)) container.resolve(ADMIN_GUARD).requireAdmin(req);
  const now = Date.now();
  const providers: Record<string, unknown> = {};
  for (const [name, pool] of pools) providers[name] = pool.snapshot(now);
  return { body: { providers } };
}
