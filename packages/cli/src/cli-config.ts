import { loadConfig, parseConfig, type GatewayConfig, type PluginModule } from '@tollgate/core';

/**
 * Loaded when the config lists no plugins, so a bare `tollgate` authenticates with virtual keys,
 * prices every request (both kept in the embedded database), serves /metrics and the console at /ui.
 *
 * @example
 * DEFAULT_PLUGINS; // ['@tollgate/storage', '@tollgate/plugin-auth', '@tollgate/plugin-cost', '@tollgate/plugin-prometheus', '@tollgate/plugin-console']
 */
export const DEFAULT_PLUGINS = ['@tollgate/storage', '@tollgate/plugin-auth', '@tollgate/plugin-cost', '@tollgate/plugin-prometheus', '@tollgate/plugin-console'] as const;

/**
 * Plugin packages the CLI ships with, resolvable by name from any config.
 *
 * @example
 * await createGateway({ config, modules: BUNDLED_MODULES });
 */
export const BUNDLED_MODULES: Readonly<Record<string, PluginModule>> = {
  // Imported only when a config names them: a gateway without metrics never loads prom-client.
  '@tollgate/storage': async () => (await import('@tollgate/storage')).default,
  '@tollgate/plugin-auth': async () => (await import('@tollgate/plugin-auth')).default,
  '@tollgate/plugin-cost': async () => (await import('@tollgate/plugin-cost')).default,
  '@tollgate/plugin-logging': async () => (await import('@tollgate/plugin-logging')).default,
  '@tollgate/plugin-prometheus': async () => (await import('@tollgate/plugin-prometheus')).default,
  '@tollgate/plugin-console': async () => (await import('@tollgate/plugin-console')).default,
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
export async function loadCliConfig(
  file: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  options: { problems?: string[] } = {},
): Promise<GatewayConfig> {
  const config = file === undefined ? parseConfig({}, { source: '(no config file)', env: { ...env }, problems: options.problems }) : await loadConfig(file, { ...env }, options);
  // With problems collected, `plugins` may be what the schema just refused.
  if (Array.isArray(config.plugins) && config.plugins.length === 0) {
    config.plugins.push(...DEFAULT_PLUGINS.map((use) => ({ use, enabled: true, config: {} })));
  }
  return config;
}
