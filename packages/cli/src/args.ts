import { parseArgs } from 'node:util';
import { CLAUDE_CODE_USAGE, parseClaudeCodeArgs, type ClaudeCodeCommand } from './claude-code-command.js';
import { parseKeysArgs, type KeysCommand } from './keys-args.js';
import type { HelpTopic } from './help.js';
import { parseSpendArgs, type SpendCommand } from './spend-args.js';
import { UsageError } from './usage-error.js';

export { UsageError } from './usage-error.js';

/** What the command line asked for. */
export type CliCommand =
  | { command: 'start'; config?: string; port?: number; host?: string; graceMs?: number; dataDir?: string }
  | { command: 'check-config'; file?: string }
  | { command: 'help'; topic?: HelpTopic }
  | { command: 'version' }
  | KeysCommand
  | SpendCommand
  | ClaudeCodeCommand;

export { USAGE } from './help.js';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  'grace-ms': { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

const START_ONLY = ['port', 'host', 'grace-ms', 'data-dir'] as const;

/**
 * Parses `process.argv.slice(2)`. Throws a `UsageError` for unknown options, commands, extra
 * arguments and malformed numbers.
 *
 * @example
 * parseCliArgs(['--port', '0']); // { command: 'start', port: 0 }
 * parseCliArgs(['check-config', 'tollgate.yaml']); // { command: 'check-config', file: 'tollgate.yaml' }
 * parseCliArgs(['keys', 'list']).command; // 'keys'
 */
export function parseCliArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): CliCommand {
  if (argv[0] === 'claude-code') return parseClaudeCodeArgs(argv.slice(1), env);
  if (argv[0] === 'keys') return parseKeysArgs(argv.slice(1));
  if (argv[0] === 'spend' || argv[0] === 'prices') return parseSpendArgs(argv);
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command = 'start', ...rest] = positionals;
  if (values.help) return command === 'start' && positionals.length === 0 ? { command: 'help' } : helpFor(command);
  if (command === 'help') return rest.length === 0 ? { command: 'help' } : helpFor(rest[0]);
  if (values.version) return { command: 'version' };
  if (command === 'start') {
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    return dropUndefined({
      command: 'start',
      config: values.config,
      port: values.port === undefined ? undefined : integer('--port', values.port, 65535),
      host: values.host,
      graceMs: values['grace-ms'] === undefined ? undefined : integer('--grace-ms', values['grace-ms'], Number.MAX_SAFE_INTEGER),
      dataDir: values['data-dir'],
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

/** `tollgate COMMAND --help` and `tollgate help COMMAND`. */
function helpFor(command: string): CliCommand {
  if (command === 'start' || command === 'check-config' || command === 'keys' || command === 'spend' || command === 'prices') return { command: 'help', topic: command };
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
