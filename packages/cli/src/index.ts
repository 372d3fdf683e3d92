export { parseCliArgs, USAGE, UsageError, type CliCommand } from './args.js';
export { BUNDLED_MODULES, DEFAULT_PLUGINS, configFile, loadCliConfig } from './cli-config.js';
export { checkConfig } from './check-config.js';
export { formatAddress, formatError, formatPlugins } from './format.js';
export type { CliIo, ShutdownSignal, SignalSource } from './io.js';
export { runCli } from './run.js';
export { waitForShutdown } from './shutdown.js';
export { start, type StartArgs } from './start.js';
export { cliVersion } from './version.js';
