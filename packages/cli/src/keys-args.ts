import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { AdminCall } from './admin-client.js';
import { UsageError } from './usage-error.js';

export const KEYS_ACTIONS = ['create', 'list', 'info', 'update', 'block', 'unblock', 'delete', 'regenerate'] as const;
export type KeysAction = (typeof KEYS_ACTIONS)[number];

/** `tollgate keys …`: the admin API call it maps to, and where and how to make it. */
export interface KeysCommand {
  command: 'keys';
  action: KeysAction;
  call: AdminCall;
  /** `--url`; else env TOLLGATE_URL, else http://localhost:4000. */
  url?: string;
  /** `--master-key`; else env TOLLGATE_MASTER_KEY, else LITELLM_MASTER_KEY. */
  masterKey?: string;
  /** Print the API's JSON answer instead of text. */
  json: boolean;
}

const OPTIONS = {
  url: { type: 'string' },
  'master-key': { type: 'string' },
  json: { type: 'boolean' },
  alias: { type: 'string', multiple: true },
  user: { type: 'string' },
  team: { type: 'string' },
  models: { type: 'string' },
  'max-budget': { type: 'string' },
  'budget-duration': { type: 'string' },
  duration: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'max-parallel': { type: 'string' },
  metadata: { type: 'string' },
  blocked: { type: 'boolean' },
  page: { type: 'string' },
  size: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];
type Flag = Exclude<keyof Values, 'url' | 'master-key' | 'json' | 'help'>;

const FIELD_FLAGS: readonly Flag[] = ['alias', 'user', 'team', 'models', 'max-budget', 'budget-duration', 'duration', 'rpm', 'tpm', 'max-parallel', 'metadata', 'blocked'];
const ALLOWED: Record<KeysAction, readonly Flag[]> = {
  create: FIELD_FLAGS,
  update: FIELD_FLAGS,
  regenerate: FIELD_FLAGS,
  list: ['page', 'size', 'user', 'team', 'alias'],
  delete: ['alias'],
  info: [],
  block: [],
  unblock: [],
};

function parse(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
}

/**
 * Parses what follows `tollgate keys`. Throws a `UsageError` for an unknown action, a flag the
 * action does not take, a missing or extra key, and malformed numbers or JSON.
 *
 * @example
 * parseKeysArgs(['block', 'sk-abc']).call; // { method: 'POST', path: '/key/block', body: { key: 'sk-abc' } }
 */
export function parseKeysArgs(argv: readonly string[]): KeysCommand | { command: 'help'; topic: 'keys' } {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help', topic: 'keys' };
  const [action, ...targets] = positionals;
  if (action === undefined) throw new UsageError(`keys needs a command: ${KEYS_ACTIONS.join(', ')}`);
  if (!isAction(action)) throw new UsageError(`unknown keys command "${action}" (one of ${KEYS_ACTIONS.join(', ')})`);
  const misplaced = (Object.keys(values) as (keyof Values)[]).find((f) => isFlag(f) && !ALLOWED[action].includes(f));
  if (misplaced) throw new UsageError(`--${misplaced} does not apply to keys ${action}`);
  if (action !== 'delete' && (values.alias?.length ?? 0) > 1) throw new UsageError(`--alias is given more than once`);
  const command: KeysCommand = { command: 'keys', action, call: toCall(action, targets, values), json: values.json ?? false };
  if (values.url !== undefined) command.url = values.url;
  if (values['master-key'] !== undefined) command.masterKey = values['master-key'];
  return command;
}

function isFlag(name: keyof Values): name is Flag {
  return name !== 'url' && name !== 'master-key' && name !== 'json' && name !== 'help';
}

function isAction(text: string): text is KeysAction {
  return (KEYS_ACTIONS as readonly string[]).includes(text);
}

function toCall(action: KeysAction, targets: string[], v: Values): AdminCall {
  switch (action) {
    case 'create':
      noTargets(targets);
      return { method: 'POST', path: '/key/generate', body: fields(v) };
    case 'list':
      noTargets(targets);
      return { method: 'GET', path: '/key/list', query: listQuery(v) };
    case 'info':
      // A GET puts the key in the URL, where proxies log it: send its token (SHA-256, hex) instead.
      return { method: 'GET', path: '/key/info', query: { key: toToken(oneTarget(action, targets)) } };
    case 'update': {
      const key = oneTarget(action, targets);
      const changes = fields(v);
      if (Object.keys(changes).length === 0) throw new UsageError('keys update needs at least one field to change (--alias, --models, --rpm, …)');
      return { method: 'POST', path: '/key/update', body: { key, ...changes } };
    }
    case 'block':
    case 'unblock':
      return { method: 'POST', path: `/key/${action}`, body: { key: oneTarget(action, targets) } };
    case 'regenerate':
      return { method: 'POST', path: '/key/regenerate', body: { key: oneTarget(action, targets), ...fields(v) } };
    case 'delete': {
      const aliases = v.alias ?? [];
      if (targets.length === 0 && aliases.length === 0) throw new UsageError('keys delete needs one or more keys, or --alias');
      const body: Record<string, unknown> = {};
      if (targets.length > 0) body.keys = targets;
      if (aliases.length > 0) body.key_aliases = aliases;
      return { method: 'POST', path: '/key/delete', body };
    }
  }
}

function noTargets(targets: string[]): void {
  if (targets.length > 0) throw new UsageError(`unexpected argument "${targets[0]}"`);
}

function oneTarget(action: KeysAction, targets: string[]): string {
  if (targets.length === 0) throw new UsageError(`keys ${action} needs a key (the secret sk-… or its 64-hex token)`);
  if (targets.length > 1) throw new UsageError(`unexpected argument "${targets[1]}"`);
  return targets[0];
}

/** A key's token (its SHA-256): what goes in URLs instead of the secret. */
export function toToken(keyOrToken: string): string {
  return /^[0-9a-f]{64}$/.test(keyOrToken) ? keyOrToken : createHash('sha256').update(keyOrToken).digest('hex');
}

/** The key fields set by flags, under the API's names. "none" clears a limit, duration or budget. */
function fields(v: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (v.alias !== undefined) out.key_alias = v.alias[0];
  if (v.user !== undefined) out.user_id = v.user;
  if (v.team !== undefined) out.team_id = v.team;
  if (v.models !== undefined) out.models = v.models.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (v['max-budget'] !== undefined) out.max_budget = orNone(v['max-budget'], () => usd('--max-budget', v['max-budget']!));
  if (v['budget-duration'] !== undefined) out.budget_duration = orNone(v['budget-duration'], () => v['budget-duration']);
  if (v.duration !== undefined) out.duration = orNone(v.duration, () => v.duration);
  if (v.rpm !== undefined) out.rpm_limit = orNone(v.rpm, () => count('--rpm', v.rpm!, 0));
  if (v.tpm !== undefined) out.tpm_limit = orNone(v.tpm, () => count('--tpm', v.tpm!, 0));
  if (v['max-parallel'] !== undefined) out.max_parallel_requests = orNone(v['max-parallel'], () => count('--max-parallel', v['max-parallel']!, 0));
  if (v.metadata !== undefined) out.metadata = jsonObject('--metadata', v.metadata);
  if (v.blocked) out.blocked = true;
  return out;
}

function listQuery(v: Values): Record<string, string> {
  const query: Record<string, string> = {};
  if (v.page !== undefined) query.page = String(count('--page', v.page, 1));
  if (v.size !== undefined) query.size = String(count('--size', v.size, 1));
  if (v.user !== undefined) query.user_id = v.user;
  if (v.team !== undefined) query.team_id = v.team;
  if (v.alias !== undefined) query.key_alias = v.alias[0];
  // Whole objects, so the table can show more than tokens.
  query.return_full_object = 'true';
  return query;
}

function orNone<T>(text: string, value: () => T): T | null {
  return text === 'none' ? null : value();
}

function count(flag: string, text: string, min: 0 | 1): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} must be ${min === 0 ? 'a whole number (0 or more) or "none"' : 'a whole number from 1'}, got "${text}"`);
  }
  return n;
}

function usd(flag: string, text: string): number {
  if (!/^\d+(\.\d+)?$/.test(text)) throw new UsageError(`${flag} must be an amount in USD such as 25 or 0.5, or "none", got "${text}"`);
  return Number(text);
}

function jsonObject(flag: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${flag} must be a JSON object such as '{"team":"search"}', got ${JSON.stringify(text)}`);
  return value as Record<string, unknown>;
}
