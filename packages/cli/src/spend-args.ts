import { parseArgs } from 'node:util';
import type { AdminCall } from './admin-client.js';
import { toToken } from './keys-args.js';
import { UsageError } from './usage-error.js';

export const SPEND_ACTIONS = ['report', 'logs', 'reprice', 'settle-batches', 'reconcile', 'rebuild-rollups', 'retention'] as const;
export type SpendAction = (typeof SPEND_ACTIONS)[number];

/** What `spend report --by` groups on (the API's `group_by`). */
export const SPEND_GROUPS = ['tag', 'key', 'user', 'team', 'end_user', 'model', 'session', 'client', 'billing'] as const;
export type SpendGroup = (typeof SPEND_GROUPS)[number];

/** Rows `spend logs` shows without `--limit`. */
export const DEFAULT_LOG_LIMIT = 50;
const MAX_LOG_LIMIT = 1000;

/** An admin API call of a reporting command, and where and how to make it. */
interface ReportCommandBase {
  call: AdminCall;
  /** `--url`; else env TOLLGATE_URL, else http://localhost:4000. */
  url?: string;
  /** `--master-key`; else env TOLLGATE_MASTER_KEY, else LITELLM_MASTER_KEY. */
  masterKey?: string;
  /** Print the API's JSON answer instead of a table. */
  json: boolean;
}

/** `tollgate spend report|logs …` and `tollgate prices`. */
export type SpendCommand =
  | (ReportCommandBase & { command: 'spend'; action: 'report'; by: SpendGroup })
  | (ReportCommandBase & { command: 'spend'; action: 'logs' })
  | (ReportCommandBase & { command: 'spend'; action: 'reprice' })
  | (ReportCommandBase & { command: 'spend'; action: 'settle-batches' })
  | (ReportCommandBase & { command: 'spend'; action: 'reconcile' })
  | (ReportCommandBase & { command: 'spend'; action: 'rebuild-rollups' })
  | (ReportCommandBase & { command: 'spend'; action: 'retention' })
  | (ReportCommandBase & { command: 'prices'; action: 'list'; wide: boolean })
  | (ReportCommandBase & { command: 'prices'; action: 'reload' })
  | (ReportCommandBase & { command: 'prices'; action: 'diff'; file: string });

/** The `--help` lines of these commands, for the CLI's usage text. */
export const SPEND_USAGE = `Spend commands (against a gateway running the cost plugin; --url, --master-key and --json as for keys):
  spend report --by tag|key|user|team|end_user|model|session|client|billing [--since WHEN] [--until DATE]
                                       Spend per group, largest first
  spend logs [--key KEY] [--user U] [--end-user U] [--tag T] [--model M] [--since WHEN] [--until DATE] [--limit N]
                                       The newest requests (default ${DEFAULT_LOG_LIMIT}, at most ${MAX_LOG_LIMIT})
  spend reprice [--model M] [--since WHEN]
                                       Price the ledger's unpriced and estimated requests with the prices now in force
  spend settle-batches                 Book the results of ended batches nobody fetched through the gateway, now
  spend reconcile [--since WHEN] [--until DATE]
                                       The ledger against Anthropic's cost report, per day, model and upstream key (default --since 7d)
  spend rebuild-rollups [--since WHEN] Recompute the daily rollups from the ledger's rows (all days, or from WHEN's day)
  spend retention                      Apply the ledger's retention now (drop old rows, fold old rollup days)
  prices [--wide]                      The gateway's price book, in USD per million tokens (fits 100
                                       columns; --wide adds aliases and long-context rates)
  prices reload                        Re-read the gateway's price files and URL now (a bad update is refused whole)
  prices diff FILE                     What FILE (a price file, JSON or YAML) would change, nothing applied
  WHEN is 24h, 7d, 2w (that long before now) or a date; DATE is a date (that whole UTC day
  included) or a datetime such as 2025-01-31T12:00:00Z.`;

const OPTIONS = {
  url: { type: 'string' },
  'master-key': { type: 'string' },
  json: { type: 'boolean' },
  by: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  key: { type: 'string' },
  user: { type: 'string' },
  'end-user': { type: 'string' },
  tag: { type: 'string' },
  model: { type: 'string' },
  limit: { type: 'string' },
  wide: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];
type Flag = Exclude<keyof Values, 'url' | 'master-key' | 'json' | 'help'>;

const ALLOWED: Record<SpendAction | 'prices', readonly Flag[]> = {
  report: ['by', 'since', 'until'],
  logs: ['key', 'user', 'end-user', 'tag', 'model', 'since', 'until', 'limit'],
  reprice: ['model', 'since'],
  'settle-batches': [],
  reconcile: ['since', 'until'],
  'rebuild-rollups': ['since'],
  retention: [],
  prices: ['wide'],
};

const DURATION = /^(\d+)(h|d|w)$/;
const UNIT_MS = { h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$/;

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
}

/**
 * Parses `tollgate spend …` or `tollgate prices …` (the whole command line, command first).
 * `now` anchors `--since 7d`. Throws a `UsageError` for unknown actions, misplaced flags and
 * malformed values.
 *
 * @example
 * parseSpendArgs(['spend', 'report', '--by', 'tag']).call; // { method: 'GET', path: '/spend/report', query: { group_by: 'tag' } }
 */
export function parseSpendArgs(argv: readonly string[], now: number = Date.now()): SpendCommand | { command: 'help'; topic: 'spend' | 'prices' } {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parse(rest);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help', topic: command === 'prices' ? 'prices' : 'spend' };
  const base = (call: AdminCall): ReportCommandBase => {
    const b: ReportCommandBase = { call, json: values.json ?? false };
    if (values.url !== undefined) b.url = values.url;
    if (values['master-key'] !== undefined) b.masterKey = values['master-key'];
    return b;
  };
  if (command === 'prices') {
    checkFlags('prices', values);
    const [sub, ...more] = positionals;
    if (sub === undefined) return { command: 'prices', action: 'list', wide: values.wide ?? false, ...base({ method: 'GET', path: '/prices' }) };
    if (values.wide !== undefined) throw new UsageError(`--wide applies to the price list only, not to prices ${sub}`);
    if (sub === 'reload') {
      noArguments(more);
      return { command: 'prices', action: 'reload', ...base({ method: 'POST', path: '/prices/reload', body: {} }) };
    }
    if (sub === 'diff') {
      const [file, ...extra] = more;
      if (file === undefined) throw new UsageError('prices diff needs a price file: tollgate prices diff FILE');
      noArguments(extra);
      // The body (the file's text) is read when the command runs.
      return { command: 'prices', action: 'diff', file, ...base({ method: 'POST', path: '/prices/diff', body: {} }) };
    }
    throw new UsageError(`unknown prices command "${sub}" (reload, diff FILE, or none to list)`);
  }
  const [action, ...extra] = positionals;
  if (action === undefined) throw new UsageError(`spend needs a command: ${SPEND_ACTIONS.join(', ')}`);
  if (!(SPEND_ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown spend command "${action}" (one of ${SPEND_ACTIONS.join(', ')})`);
  checkFlags(action as SpendAction, values);
  noArguments(extra);
  if (action === 'reprice') {
    const body: Record<string, string> = {};
    if (values.model !== undefined) body.model = values.model;
    if (values.since !== undefined) body.since = since(values.since, now);
    return { command: 'spend', action: 'reprice', ...base({ method: 'POST', path: '/spend/reprice', body }) };
  }
  if (action === 'reconcile') {
    const query = { start_date: since(values.since ?? '7d', now), ...(values.until === undefined ? {} : { end_date: until(values.until) }) };
    return { command: 'spend', action: 'reconcile', ...base({ method: 'GET', path: '/spend/reconcile', query }) };
  }
  if (action === 'settle-batches') return { command: 'spend', action: 'settle-batches', ...base({ method: 'POST', path: '/spend/batches/settle', body: {} }) };
  if (action === 'rebuild-rollups') {
    const body = values.since === undefined ? {} : { since: since(values.since, now) };
    return { command: 'spend', action: 'rebuild-rollups', ...base({ method: 'POST', path: '/spend/rollups/rebuild', body }) };
  }
  if (action === 'retention') return { command: 'spend', action: 'retention', ...base({ method: 'POST', path: '/spend/retention/run', body: {} }) };
  const query: Record<string, string> = {};
  if (values.since !== undefined) query.start_date = since(values.since, now);
  if (values.until !== undefined) query.end_date = until(values.until);
  if (action === 'report') {
    const by = values.by;
    if (by === undefined) throw new UsageError(`spend report needs --by (one of ${SPEND_GROUPS.join(', ')})`);
    if (!isGroup(by)) throw new UsageError(`--by must be one of ${SPEND_GROUPS.join(', ')}, got "${by}"`);
    return { command: 'spend', action: 'report', by, ...base({ method: 'GET', path: '/spend/report', query: { group_by: by, ...query } }) };
  }
  const filters = [['key', 'api_key'], ['user', 'user_id'], ['end-user', 'end_user'], ['tag', 'tag'], ['model', 'model']] as const;
  for (const [flag, param] of filters) if (values[flag] !== undefined) query[param] = values[flag];
  // The secret never goes into a URL: the API takes the key's token too.
  if (query.api_key !== undefined) query.api_key = toToken(query.api_key);
  const limit = values.limit === undefined ? DEFAULT_LOG_LIMIT : integer('--limit', values.limit, MAX_LOG_LIMIT);
  return { command: 'spend', action: 'logs', ...base({ method: 'GET', path: '/spend/logs', query: { ...query, page: '1', page_size: String(limit) } }) };
}

function checkFlags(action: SpendAction | 'prices', values: Values): void {
  const misplaced = (Object.keys(values) as (keyof Values)[]).find((f) => isFlag(f) && !ALLOWED[action].includes(f));
  if (misplaced) throw new UsageError(`--${misplaced} does not apply to ${action === 'prices' ? 'prices' : `spend ${action}`}`);
}

function isFlag(name: keyof Values): name is Flag {
  return name !== 'url' && name !== 'master-key' && name !== 'json' && name !== 'help';
}

function isGroup(text: string): text is SpendGroup {
  return (SPEND_GROUPS as readonly string[]).includes(text);
}

function noArguments(positionals: readonly string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
}

/** `--since`: a duration before `now` (as an instant), or a date/datetime passed on as is. */
function since(text: string, now: number): string {
  const d = DURATION.exec(text);
  if (d && Number(d[1]) > 0) return new Date(now - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS]).toISOString();
  if (DATE.test(text) || DATETIME.test(text)) return text;
  throw new UsageError(`--since must be a duration such as 24h, 7d or 2w, or a date such as 2025-01-31, got "${text}"`);
}

function until(text: string): string {
  if (DATE.test(text) || DATETIME.test(text)) return text;
  throw new UsageError(`--until must be a date such as 2025-01-31 or a datetime such as 2025-01-31T12:00:00Z, got "${text}"`);
}

function integer(flag: string, text: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got "${text}"`);
  return n;
}
