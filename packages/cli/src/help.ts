import { CLAUDE_CODE_USAGE } from './claude-code-command.js';
import { SPEND_USAGE } from './spend-args.js';

/** What `--help` can be about: the whole CLI, or one command. */
export type HelpTopic = 'start' | 'check-config' | 'keys' | 'spend' | 'prices';

/** The start command's options: in `start --help` and the whole CLI's help. */
const START_OPTIONS = `  -c, --config FILE   YAML config (default: env TOLLGATE_CONFIG; none: defaults from the environment)
  -p, --port N        Port to listen on, 0 for any free one (overrides server.port and PORT)
      --host H        Address to listen on (overrides server.host and HOST)
      --grace-ms N    On SIGTERM/SIGINT, how long the shutdown may take (overrides server.shutdownGraceMs)
      --data-dir DIR  Folder of the embedded database (overrides TOLLGATE_DATA_DIR; default ./.tollgate)
  -h, --help          Show this help
  -v, --version       Show the version`;

const START_HELP = `Usage: tollgate [start] [--config FILE] [--port N] [--host H] [--grace-ms N] [--data-dir DIR]

Runs the gateway (the default command).

Options:
${START_OPTIONS}

Environment: TOLLGATE_CONFIG, PORT, HOST, LOG_LEVEL, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY,
TOLLGATE_MASTER_KEY (or LITELLM_MASTER_KEY), DATABASE_URL (postgres://…; default: embedded
SQLite), TOLLGATE_DATA_DIR, TOLLGATE_URL.`;

const CHECK_CONFIG_HELP = `Usage: tollgate check-config [FILE]

Validates a config file (FILE, --config or env TOLLGATE_CONFIG) and the options of every plugin
it names, then exits: 0 when valid, 1 with each mistake's file, line and column.`;

/** The keys commands, their options and fields: in `keys --help` and the whole CLI's help. */
const KEYS_USAGE = `Keys commands (KEY is the secret sk-… or its 64-hex token):
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
  "none" clears --max-budget, --budget-duration, --duration, --rpm, --tpm and --max-parallel.`;

const KEYS_HELP = `Usage: tollgate keys COMMAND [ARGS] [--url URL] [--master-key KEY] [--json]

${KEYS_USAGE}`;

const SPEND_HELP = `Usage: tollgate spend report|logs|reprice|settle-batches|reconcile [ARGS] [--url URL] [--master-key KEY] [--json]

${SPEND_USAGE}`;

/**
 * The `--help` text of the whole CLI.
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
  tollgate --help | tollgate COMMAND --help | tollgate --version

Commands:
  start          Run the gateway (the default command).
  check-config   Validate a config file and the plugins it names, then exit.
  keys           Manage the virtual keys of a running gateway (its /key/* admin API).

Options:
${START_OPTIONS}

${KEYS_USAGE}

${SPEND_USAGE}

${CLAUDE_CODE_USAGE}

Environment: TOLLGATE_CONFIG, PORT, HOST, LOG_LEVEL, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY,
TOLLGATE_MASTER_KEY (or LITELLM_MASTER_KEY), DATABASE_URL (postgres://…; default: embedded
SQLite), TOLLGATE_DATA_DIR, TOLLGATE_URL.`;

/**
 * The help of one command (`tollgate keys --help`), or of the whole CLI without a topic.
 *
 * @example
 * helpText('prices').startsWith('Usage: tollgate prices'); // true
 */
export function helpText(topic: HelpTopic | undefined): string {
  switch (topic) {
    case 'start':
      return START_HELP;
    case 'check-config':
      return CHECK_CONFIG_HELP;
    case 'keys':
      return KEYS_HELP;
    case 'spend':
      return SPEND_HELP;
    case 'prices':
      return `Usage: tollgate prices [reload | diff FILE] [--wide] [--url URL] [--master-key KEY] [--json]\n\n${SPEND_USAGE}`;
    case undefined:
      return USAGE;
  }
}
