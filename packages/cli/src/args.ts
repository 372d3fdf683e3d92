import { parseArgs } from 'node:util';
import { CLAUDE_CODE_USAGE, parseClaudeCodeArgs, type ClaudeCodeCommand } from './claude-code-command.js';
import { parseKeysArgs, type KeysCommand } from './keys-args.js';
import { parseSpendArgs, SPEND_USAGE, type SpendCommand } from './spend-args.js';
import { UsageError } from './usage-error.js';

export { UsageError } from './usage-error.js';

/** What the command line asked for. */
export type CliCommand =
  | { command: 'start'; config?: string; port?: number; host?: string; graceMs?: number; dataDir?: string }
  | { command: 'check-config'; file?: string }
  | { command: 'help' }
  | { command: 'version' }
  | KeysCommand
  | SpendCommand
  | ClaudeCodeCommand;

/**
 * The `--help` text.
 *
 * @example
 * io.out(USAGE);
 */
export const USAGE = `Usage:
  tollgate [start] [--config FILE] [--port N] [--host H] [--grace-ms N] [--data-dir DIR]
  tollgate check-config [FILE]
  tollgate keys COMMAND [ARGS] [--url URL] [--master-key KEY] [--json]
  tollgate spend report|logs|reprice|settle-batches|reconcile [ARGS] | tollgate prices [reload|diff FILE]  (same --url, --master-key, --json)
  tollgate claude-code env --key KEY [--url URL] [--own-login] [--settings]
  tollgate --help | --version

Commands:
  start          Run the gateway (the default command).
  check-config   Validate a config file and the plugins it names, then exit.
  keys           Manage the virtual keys of a running gateway (its /key/* admin API).

Options:
  -c, --config FILE   YAML config (default: env TOLLGATE_CONFIG; none: defaults from the environment)
  -p, --port N        Port to listen on, 0 for any free one (overrides server.port and PORT)
      --host H        Address to listen on (overrides server.host and HOST)
      --grace-ms N    On SIGTERM/SIGINT, how long in-flight requests may run (overrides server.shutdownGraceMs)
      --data-dir DIR  Folder of the embedded database (overrides TOLLGATE_DATA_DIR; default ./.tollgate)
  -h, --help          Show this help
  -v, --version       Show the version

Keys commands (KEY is the secret sk-… or its 64-hex token):
  keys create [FIELDS]                 Create a key; its secret is printed once
  keys list [--page N] [--size N] [--user U] [--team T] [--alias A]
  keys info KEY
  keys update KEY FIELDS
  keys block KEY
  keys unblock KEY
  keys delete KEY... | --alias A...    Exits 1 if any was not found
  keys regenerate KEY [FIELDS]         New secret for the same key; the old one stops working

Keys options:
      --url URL            Gateway (default: env TOLLGATE_URL, else http://localhost:4000)
      --master-key KEY     Master key (default: env TOLLGATE_MASTER_KEY or LITELLM_MASTER_KEY;
                           prefer the environment: other users can see command lines)
      --json               Print the API's JSON answer instead of text

Key fields (FIELDS):
      --alias A            key_alias, unique
      --user U             user_id
      --team T             team_id
      --models A,B         Models the key may use (empty: all)
      --max-budget USD     max_budget (needs a cost plugin on the gateway)
      --budget-duration D  Budget window, e.g. 30d or 1mo (s, m, h, d, w, mo)
      --duration D         Expire after D, e.g. 7d
      --rpm N              rpm_limit: requests per minute
      --tpm N              tpm_limit: tokens per minute
      --max-parallel N     max_parallel_requests
      --metadata JSON      A JSON object
      --blocked            Blocked until "keys unblock"
  "none" clears --max-budget, --budget-duration, --duration, --rpm, --tpm and --max-parallel.

${SPEND_USAGE}

${CLAUDE_CODE_USAGE}

Environment: TOLLGATE_CONFIG, PORT, HOST, LOG_LEVEL, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY,
TOLLGATE_MASTER_KEY (or LITELLM_MASTER_KEY), DATABASE_URL (postgres://…; default: embedded
SQLite), TOLLGATE_DATA_DIR, TOLLGATE_URL.`;

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

function integer(flag: string, text: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n > max) throw new UsageError(`${flag} must be an integer from 0 to ${max}, got "${text}"`);
  return n;
}

function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}
