import { parseArgs } from 'node:util';

/** What the command line asked for. */
export type CliCommand =
  | { command: 'start'; config?: string; port?: number; host?: string; graceMs?: number }
  | { command: 'check-config'; file?: string }
  | { command: 'help' }
  | { command: 'version' };

/**
 * A command line that cannot be run; the CLI prints the message and a pointer to `--help`, and exits 2.
 *
 * @example
 * throw new UsageError('unknown command "serve"');
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The `--help` text.
 *
 * @example
 * io.out(USAGE);
 */
export const USAGE = `Usage:
  tollgate [start] [--config FILE] [--port N] [--host H] [--grace-ms N]
  tollgate check-config [FILE]
  tollgate --help | --version

Commands:
  start          Run the gateway (the default command).
  check-config   Validate a config file and the plugins it names, then exit.

Options:
  -c, --config FILE   YAML config (default: env TOLLGATE_CONFIG; none: defaults from the environment)
  -p, --port N        Port to listen on, 0 for any free one (overrides server.port and PORT)
      --host H        Address to listen on (overrides server.host and HOST)
      --grace-ms N    On SIGTERM/SIGINT, how long in-flight requests may run (overrides server.shutdownGraceMs)
  -h, --help          Show this help
  -v, --version       Show the version

Environment: TOLLGATE_CONFIG, PORT, HOST, LOG_LEVEL, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY,
TOLLGATE_MASTER_KEY (or LITELLM_MASTER_KEY).`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  'grace-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

const START_ONLY = ['port', 'host', 'grace-ms'] as const;

/**
 * Parses `process.argv.slice(2)`. Throws a `UsageError` for unknown options, commands, extra
 * arguments and malformed numbers.
 *
 * @example
 * parseCliArgs(['--port', '0']); // { command: 'start', port: 0 }
 * parseCliArgs(['check-config', 'tollgate.yaml']); // { command: 'check-config', file: 'tollgate.yaml' }
 */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  if (values.version) return { command: 'version' };
  const [command = 'start', ...rest] = positionals;
  if (command === 'start') {
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    return dropUndefined({
      command: 'start',
      config: values.config,
      port: values.port === undefined ? undefined : integer('--port', values.port, 65535),
      host: values.host,
      graceMs: values['grace-ms'] === undefined ? undefined : integer('--grace-ms', values['grace-ms'], Number.MAX_SAFE_INTEGER),
    });
  }
  if (command === 'check-config') {
    const misplaced = START_ONLY.find((name) => values[name] !== undefined);
    if (misplaced) throw new UsageError(`--${misplaced} does not apply to check-config`);
    if (rest.length > 1) throw new UsageError(`unexpected argument "${rest[1]}"`);
    if (rest.length === 1 && values.config !== undefined) throw new UsageError('give the config file either as an argument or with --config, not both');
    return dropUndefined({ command: 'check-config', file: rest[0] ?? values.config });
  }
  throw new UsageError(`unknown command "${command}"`);
}

function integer(flag: string, text: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n > max) throw new UsageError(`${flag} must be an integer from 0 to ${max}, got "${text}"`);
  return n;
}

function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
