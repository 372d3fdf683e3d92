import type { Gateway, GatewayConfig } from '@tollgate/core';
import { STORAGE } from '@tollgate/storage';

const DEFAULT_UPSTREAM = 'https://api.anthropic.com';

/**
 * What an operator checks first, printed at start: the version, where requests go, where
 * spend and keys are kept, and who can read /metrics and the console.
 *
 * @example
 * startSummary(gw, config, '0.1.0');
 * // ['tollgate 0.1.0', 'upstream: https://api.anthropic.com', 'data store: sqlite …', '/metrics: open …', 'console: /ui …']
 */
export function startSummary(gw: Gateway, config: GatewayConfig, version: string): string[] {
  const loaded = new Set(gw.plugins.map((p) => p.name));
  const storage = gw.container.isRegistered(STORAGE, true) ? gw.container.resolve(STORAGE).description : 'none (no storage plugin: keys and spend are not kept)';
  return [
    `tollgate ${version}`,
    `upstream: ${config.providers.anthropic.baseUrl ?? DEFAULT_UPSTREAM}`,
    `data store: ${storage}`,
    metricsLine(config, loaded.has('prometheus')),
    loaded.has('console') ? 'console: /ui, signed in with the master key or a virtual key (a virtual key sees only its own data)' : 'console: off (add @tollgate/plugin-console)',
  ];
}

function metricsLine(config: GatewayConfig, loaded: boolean): string {
  if (!loaded) return '/metrics: off (no prometheus plugin)';
  const entry = config.plugins.find((p) => p.use === '@tollgate/plugin-prometheus' && p.enabled !== false);
  const c = (entry?.config ?? {}) as { path?: string; requireKey?: boolean; metricsKey?: string | null };
  const path = c.path ?? '/metrics';
  return c.requireKey || c.metricsKey ? `${path}: needs a key (${c.metricsKey ? 'the metrics key' : 'the master key'})` : `${path}: open to anyone who reaches this port (prometheus.requireKey protects it)`;
}
