import { resolvePlugins } from '@tollgate/core';
import { BUNDLED_MODULES, loadCliConfig } from './cli-config.js';

/**
 * Validates a config file and every plugin it names (imported, config checked against the
 * plugin's schema, defaults applied) without setting anything up. Throws the config error,
 * whose message names `file:line:col` and the path.
 *
 * @example
 * const { plugins } = await checkConfig('tollgate.yaml', process.env);
 */
export async function checkConfig(
  file: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ plugins: { name: string; priority: number }[] }> {
  const config = await loadCliConfig(file, env);
  const plugins = await resolvePlugins(config, { modules: BUNDLED_MODULES });
  return { plugins: plugins.sort((a, b) => b.priority - a.priority) };
}
