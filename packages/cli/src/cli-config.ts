import { loadConfig, parseConfig, type GatewayConfig, type PluginDefinition } from '@tollgate/core';
import authPlugin from '@tollgate/plugin-auth';
import storagePlugin from '@tollgate/storage';
import costPlugin from '@tollgate/plugin-cost';
import loggingPlugin from '@tollgate/plugin-logging';
import prometheusPlugin from '@tollgate/plugin-prometheus';

/**
 * Loaded when the config lists no plugins, so a bare `tollgate` authenticates with virtual keys,
 * prices every request (both kept in the embedded database) and serves /metrics.
 *
 * @example
 * DEFAULT_PLUGINS; // ['@tollgate/storage', '@tollgate/plugin-auth', '@tollgate/plugin-cost', '@tollgate/plugin-prometheus']
 */
export const DEFAULT_PLUGINS = ['@tollgate/storage', '@tollgate/plugin-auth', '@tollgate/plugin-cost', '@tollgate/plugin-prometheus'] as const;

/**
 * Plugin packages the CLI ships with, resolvable by name from any config.
 *
 * @example
 * await createGateway({ config, modules: BUNDLED_MODULES });
 */
export const BUNDLED_MODULES: Readonly<Record<string, PluginDefinition>> = {
  '@tollgate/storage': storagePlugin,
  '@tollgate/plugin-auth': authPlugin,
  '@tollgate/plugin-cost': costPlugin,
  '@tollgate/plugin-logging': loggingPlugin,
  '@tollgate/plugin-prometheus': prometheusPlugin,
};

/**
 * The config file to use: the `--config` flag, else env `TOLLGATE_CONFIG`, else none.
 *
 * @example
 * configFile(undefined, { TOLLGATE_CONFIG: '/etc/tollgate.yaml' }); // '/etc/tollgate.yaml'
 */
export function configFile(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string | undefined {
  return flag ?? (env.TOLLGATE_CONFIG || undefined);
}

/**
 * Loads the file (or, without one, the defaults and the environment) and adds the default
 * plugins when the config lists none. An empty `plugins: []` also gets them: a gateway
 * without auth must be asked for explicitly (`enabled: false` on the auth entry).
 *
 * @example
 * const config = await loadCliConfig('tollgate.yaml', process.env);
 */
export async function loadCliConfig(file: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<GatewayConfig> {
  const config = file === undefined ? parseConfig({}, { source: '(no config file)', env: { ...env } }) : await loadConfig(file, { ...env });
  if (config.plugins.length === 0) {
    config.plugins.push(...DEFAULT_PLUGINS.map((use) => ({ use, enabled: true, config: {} })));
  }
  return config;
}
