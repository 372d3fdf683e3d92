import { callAdminApi, type AdminTarget } from './admin-client.js';
import type { CliIo } from './io.js';
import type { KeysCommand } from './keys-args.js';
import { formatKeyDetails, formatKeyList, formatNewKey, keyLabel, type KeyPage, type KeyView } from './key-format.js';
import { UsageError } from './usage-error.js';

export const DEFAULT_GATEWAY_URL = 'http://localhost:4000';

/**
 * `tollgate keys …` against a running gateway: makes the admin call and prints the answer
 * (text, or the JSON with `--json`). Resolves 0, or 1 when `delete` found only some keys;
 * throws `AdminApiError` / `GatewayUnreachableError` (exit 1) and `UsageError` (exit 2).
 *
 * @example
 * const code = await runKeys(parseKeysArgs(['list']), io);
 */
export async function runKeys(cmd: KeysCommand, io: CliIo, options: { timeoutMs?: number } = {}): Promise<number> {
  const target = adminTarget(cmd, io.env, options.timeoutMs);
  const answer = await callAdminApi(cmd.call, target);
  if (cmd.json) io.out(JSON.stringify(answer, null, 2));
  if (cmd.action === 'delete') {
    if (!Array.isArray((answer as { deleted_keys?: unknown }).deleted_keys)) throw unexpectedAnswer(cmd, target.url);
    return reportDeleted(cmd, answer as { deleted_keys: string[] }, io);
  }
  if (cmd.json) return 0;
  for (const line of formatAnswer(cmd, answer, target.url)) io.out(line);
  return 0;
}

function formatAnswer(cmd: KeysCommand, answer: unknown, url: string): string[] {
  const a = answer as Partial<KeyPage> & { info?: unknown; key?: unknown };
  const unexpected = () => unexpectedAnswer(cmd, url);
  if (cmd.action === 'list') {
    if (!Array.isArray(a.keys) || !a.keys.every(isKeyView) || typeof a.total_count !== 'number') throw unexpected();
    return formatKeyList(a as KeyPage);
  }
  const view = cmd.action === 'info' ? a.info : a;
  if (!isKeyView(view)) throw unexpected();
  if (cmd.action === 'create' || cmd.action === 'regenerate') {
    if (typeof a.key !== 'string') throw unexpected();
    return formatNewKey(view as KeyView & { key: string }, cmd.action);
  }
  return formatKeyDetails(view);
}

function unexpectedAnswer(cmd: KeysCommand, url: string): Error {
  return new Error(`unexpected answer to ${cmd.call.method} ${url.replace(/\/+$/, '')}${cmd.call.path}; try --json to see it`);
}

function isKeyView(value: unknown): value is KeyView {
  const k = value as Partial<KeyView> | null;
  return typeof k === 'object' && k !== null && typeof k.token === 'string' && typeof k.key_name === 'string' && Array.isArray(k.models);
}

/**
 * Where to send admin calls: `--url`, else env TOLLGATE_URL, else http://localhost:4000; the
 * master key from `--master-key`, else env TOLLGATE_MASTER_KEY, else LITELLM_MASTER_KEY.
 *
 * @example
 * adminTarget(cmd, { TOLLGATE_URL: 'http://gw:4000', TOLLGATE_MASTER_KEY: 'sk-m' }).url; // 'http://gw:4000'
 */
export function adminTarget(
  cmd: Pick<KeysCommand, 'url' | 'masterKey'>,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs?: number,
): AdminTarget {
  const url = cmd.url ?? (env.TOLLGATE_URL || DEFAULT_GATEWAY_URL);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.search || parsed.hash) {
    throw new UsageError(`the gateway URL must be http(s)://HOST:PORT, got "${url}"`);
  }
  if (parsed.username || parsed.password) throw new UsageError('the gateway URL must not hold credentials; pass the master key with --master-key or TOLLGATE_MASTER_KEY');
  const masterKey = cmd.masterKey ?? (env.TOLLGATE_MASTER_KEY || env.LITELLM_MASTER_KEY || undefined);
  if (!masterKey) throw new UsageError('keys commands need the master key: set TOLLGATE_MASTER_KEY (or pass --master-key)');
  return timeoutMs === undefined ? { url, masterKey } : { url, masterKey, timeoutMs };
}

/** Prints what was deleted and, on stderr, what was not found; 1 when anything was missing. */
function reportDeleted(cmd: KeysCommand, answer: { deleted_keys: string[] }, io: CliIo): number {
  const body = cmd.call.body as { keys?: string[]; key_aliases?: string[] };
  const deleted = new Set(answer.deleted_keys);
  const asked = [...(body.keys ?? []).map((k) => ({ given: k, label: keyLabel(k) })), ...(body.key_aliases ?? []).map((a) => ({ given: a, label: `alias ${a}` }))];
  if (!cmd.json) for (const a of asked) if (deleted.has(a.given)) io.out(`deleted ${a.label}`);
  const missing = asked.filter((a) => !deleted.has(a.given));
  for (const m of missing) io.err(`tollgate: not found: ${m.label}`);
  return missing.length === 0 ? 0 : 1;
}
