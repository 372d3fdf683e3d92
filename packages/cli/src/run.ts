import { parseCliArgs, type CliCommand } from './args.js';
import { helpText } from './help.js';
import { checkConfig } from './check-config.js';
import { claudeCodeSettings } from './claude-code-command.js';
import { configFile } from './cli-config.js';
import { formatError, formatPlugins } from './format.js';
import type { CliIo } from './io.js';
import { runKeys } from './keys-command.js';
import { runSpend } from './spend-command.js';
import { start } from './start.js';
import { UsageError } from './usage-error.js';
import { cliVersion } from './version.js';

/**
 * Runs one command line and resolves with the exit code: 0 success, 1 failure (config and
 * admin API errors print as one clean message, no stack trace), 2 usage error.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2), io);
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let cmd: CliCommand;
  try {
    cmd = parseCliArgs(argv, io.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`tollgate: ${err.message}`);
    io.err('Run "tollgate --help" for usage.');
    return 2;
  }
  try {
    switch (cmd.command) {
      case 'help':
        io.out(helpText(cmd.topic));
        return 0;
      case 'version':
        io.out(cliVersion());
        return 0;
      case 'check-config':
        return await runCheckConfig(cmd.file, io);
      case 'start': {
        const { command: _, ...args } = cmd;
        return await start(args, io);
      }
      case 'keys':
        return await runKeys(cmd, io);
      case 'spend':
      case 'prices':
        return await runSpend(cmd, io);
      case 'claude-code':
        for (const line of claudeCodeSettings(cmd)) io.out(line);
        return 0;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tollgate: ${err.message}`);
      return 2;
    }
    io.err(formatError(err));
    return 1;
  }
}

async function runCheckConfig(given: string | undefined, io: CliIo): Promise<number> {
  const file = given ?? configFile(undefined, io.env);
  if (file === undefined) {
    io.err('tollgate: check-config needs a config file (an argument, --config or env TOLLGATE_CONFIG)');
    return 2;
  }
  const { plugins } = await checkConfig(file, io.env);
  io.out(`${file}: ok`);
  io.out(`plugins: ${formatPlugins(plugins)}`);
  return 0;
}
