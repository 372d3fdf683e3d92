import { formatPairs, formatTable } from './table.js';

/** A key as the admin API shows it (LiteLLM's field names). */
export interface KeyView {
  token: string;
  key_name: string;
  key_alias: string | null;
  spend: number;
  max_budget: number | null;
  budget_duration: string | null;
  budget_reset_at: string | null;
  expires: string | null;
  models: string[];
  user_id: string | null;
  team_id: string | null;
  metadata: Record<string, unknown>;
  rpm_limit: number | null;
  tpm_limit: number | null;
  max_parallel_requests: number | null;
  blocked: boolean;
  created_at: string;
  updated_at: string;
}

/** One page of `GET /key/list?return_full_object=true`. */
export interface KeyPage {
  keys: KeyView[];
  total_count: number;
  current_page: number;
  total_pages: number;
}

const DETAIL_FIELDS = [
  'token', 'key_name', 'key_alias', 'user_id', 'team_id', 'models', 'spend', 'max_budget', 'budget_duration', 'budget_reset_at',
  'expires', 'rpm_limit', 'tpm_limit', 'max_parallel_requests', 'blocked', 'metadata', 'created_at', 'updated_at',
] as const satisfies readonly (keyof KeyView)[];

export const LIST_HEADERS = ['ALIAS', 'KEY_NAME', 'USER', 'TEAM', 'MODELS', 'SPEND/MAX_BUDGET', 'EXPIRES', 'BLOCKED'] as const;

/**
 * One key as `name  value` lines, every field but the secret. `-` is unset, `all` an empty
 * model list, `never` no expiry.
 *
 * @example
 * io.out(formatKeyDetails(answer.info).join('\n'));
 */
export function formatKeyDetails(k: KeyView): string[] {
  return formatPairs(DETAIL_FIELDS.map((field) => [field, detail(field, k[field])]));
}

/**
 * A key just created or regenerated: the secret, once, with the warning, then the details.
 *
 * @example
 * formatNewKey(answer, 'create')[0]; // 'New key: sk-…'
 */
export function formatNewKey(answer: KeyView & { key: string }, action: 'create' | 'regenerate'): string[] {
  return [
    `New key: ${answer.key}`,
    'Store it now: it cannot be shown again (the gateway keeps only its hash).',
    ...(action === 'regenerate' ? ['The old key no longer works.'] : []),
    '',
    ...formatKeyDetails(answer),
  ];
}

/**
 * A page of keys as a table and a `page N of M (T keys)` line.
 *
 * @example
 * formatKeyList({ keys: [], total_count: 0, current_page: 1, total_pages: 0 }); // ['no keys']
 */
export function formatKeyList(page: KeyPage): string[] {
  if (page.total_count === 0) return ['no keys'];
  const footer = `page ${page.current_page} of ${page.total_pages} (${page.total_count} key${page.total_count === 1 ? '' : 's'})`;
  if (page.keys.length === 0) return ['no keys on this page', footer];
  const rows = page.keys.map((k) => [
    k.key_alias ?? '-',
    k.key_name,
    k.user_id ?? '-',
    k.team_id ?? '-',
    k.models.length === 0 ? 'all' : k.models.join(','),
    `${usd(k.spend)}/${k.max_budget === null ? '-' : usd(k.max_budget)}`,
    k.expires === null ? 'never' : k.expires.replace(/\.\d+Z$/, 'Z'),
    k.blocked ? 'yes' : 'no',
  ]);
  return [...formatTable(LIST_HEADERS, rows), footer];
}

/**
 * How a key the user typed is shown back: a token as is, a secret only as its `key_name`.
 *
 * @example
 * keyLabel('sk-Up2egG7C_m_XSTDA9oXfyIP_uBXqKz9u'); // 'sk-...Kz9u'
 */
export function keyLabel(keyOrToken: string): string {
  if (/^[0-9a-f]{64}$/.test(keyOrToken)) return keyOrToken;
  return keyOrToken.length > 8 ? `${keyOrToken.slice(0, 3)}...${keyOrToken.slice(-4)}` : '...';
}

/** Dollars without exponent notation or float noise: 0.0000001, 12.5, 0. */
function usd(n: number): string {
  return n.toFixed(12).replace(/\.?0+$/, '');
}

function detail(field: (typeof DETAIL_FIELDS)[number], value: KeyView[keyof KeyView]): string {
  if (field === 'models') return (value as string[]).length === 0 ? 'all' : (value as string[]).join(', ');
  if (field === 'expires' && value === null) return 'never';
  if (value === null || value === undefined) return '-';
  if (field === 'spend' || field === 'max_budget') return usd(value as number);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
