import { createGateway, GatewayError, invalidConfig, problemLines, resolvePlugins } from '@tollgate/core';
import { BUNDLED_MODULES, loadCliConfig } from './cli-config.js';

/**
 * Validates a config file the way `tollgate start` does, short of listening: the file and the
 * environment, every plugin it names (imported, config checked against the plugin's schema),
 * then every plugin set up and its readiness checks run (databases opened, migrations
 * applied), and all of it closed again. Whatever start would refuse, this refuses. The file
 * and plugin mistakes are reported together, one per line; set-up runs once they are fixed.
 *
 * @example
 * const { plugins } = await checkConfig('tollgate.yaml', process.env);
 */
export async function checkConfig(
  file: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ plugins: { name: string; priority: number }[] }> {
  const problems: string[] = [];
  const config = await loadCliConfig(file, env, { problems });
  let plugins: { name: string; priority: number }[] = [];
  try {
    plugins = await resolvePlugins(config, { modules: BUNDLED_MODULES });
  } catch (err) {
    // With the file already refused, a plugin failing on what was refused is not news.
    if (!(err instanceof GatewayError)) {
      if (problems.length === 0) throw err;
    } else if (problems.length === 0) {
      throw err;
    } else {
      problems.push(...problemLines(err));
    }
  }
  if (problems.length > 0) throw invalidConfig(problems);
  const gw = await createGateway({ config, modules: BUNDLED_MODULES, env: { ...env }, logDestination: { write: () => undefined } });
  await gw.close({ graceMs: 0 });
  return { plugins: plugins.sort((a, b) => b.priority - a.priority) };
}
