import { createGateway, type Gateway } from '@tollgate/core';
import type { CliCommand } from './args.js';
import { BUNDLED_MODULES, configFile, loadCliConfig } from './cli-config.js';
import { formatAddress, formatError, formatPlugins } from './format.js';
import type { CliIo } from './io.js';
import { waitForShutdown } from './shutdown.js';
import { startSummary } from './start-summary.js';
import { cliVersion } from './version.js';

export type StartArgs = Omit<Extract<CliCommand, { command: 'start' }>, 'command'>;

/**
 * `tollgate start`: loads the config, applies the flags over it, listens, and resolves with
 * the exit code after a graceful shutdown. Throws (before listening) on a bad config.
 *
 * @example
 * const code = await start({ port: 0 }, io);
 */
export async function start(args: StartArgs, io: CliIo): Promise<number> {
  const config = await loadCliConfig(configFile(args.config, io.env), io.env);
  if (args.port !== undefined) config.server.port = args.port;
  if (args.host !== undefined) config.server.host = args.host;
  if (args.graceMs !== undefined) config.server.shutdownGraceMs = args.graceMs;

  const env = args.dataDir === undefined ? io.env : { ...io.env, TOLLGATE_DATA_DIR: args.dataDir };
  const gw = await createGateway({ config, modules: BUNDLED_MODULES, env, logDestination: io.logDestination });
  io.err(`plugins: ${formatPlugins(gw.plugins)}`);
  if (config.providers.anthropic.apiKey === undefined) {
    io.err(
      'tollgate: warning: no upstream API key (providers.anthropic.apiKey or ANTHROPIC_API_KEY); ' +
        'requests will reach the upstream without a key',
    );
  }
  let address: { host: string; port: number };
  try {
    address = await gw.listen();
  } catch (err) {
    await gw.close({ graceMs: 0 });
    throw err;
  }
  const reload = () => void reloadUpstreams(gw, args, io);
  io.signals.on('SIGHUP', reload);
  for (const line of startSummary(gw, config, cliVersion())) io.err(line);
  // Last line of the start-up output: once it is printed, the gateway takes requests.
  io.err(`tollgate listening on ${formatAddress(address.host, address.port)}`);
  const code = await waitForShutdown(gw, { graceMs: config.server.shutdownGraceMs, io });
  io.signals.off('SIGHUP', reload);
  await new Promise<void>((resolve) => gw.log.flush(() => resolve()));
  return code;
}

/**
 * SIGHUP: re-reads the config file and hands its Anthropic upstreams to the running gateway
 * (keys added, removed or rotated without a restart). Everything else in the file takes a
 * restart. A bad file is reported and the pool stays as it was.
 */
async function reloadUpstreams(gw: Pick<Gateway, 'reloadUpstreams'>, args: StartArgs, io: CliIo): Promise<void> {
  try {
    const config = await loadCliConfig(configFile(args.config, io.env), io.env);
    gw.reloadUpstreams(config.providers.anthropic);
    io.err('tollgate: SIGHUP: upstreams reloaded');
  } catch (err) {
    io.err(`tollgate: SIGHUP: upstreams not reloaded: ${formatError(err)}`);
  }
}
