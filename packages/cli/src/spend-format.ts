import { picoToUsd, usdToPico } from '@tollgate/core';
import type { SpendLogView, SpendReportView } from '@tollgate/plugin-cost';
import type { SpendGroup } from './spend-args.js';
import { formatTable } from './table.js';

/** One row of `GET /spend/report`. */
export type SpendReportRow = SpendReportView;

/** The fields of a `GET /spend/logs` row the table shows. */
export type SpendLogRow = Pick<
  SpendLogView,
  'request_id' | 'call_type' | 'model' | 'api_key' | 'key_alias' | 'end_user' | 'request_tags' | 'status_code' | 'prompt_tokens' | 'completion_tokens' | 'spend_exact' | 'unpriced' | 'startTime'
> & { estimated?: boolean };

/** One page of `GET /spend/logs?page=…`. */
export interface SpendLogPage {
  data: SpendLogRow[];
  /** Exact, or a lower bound when `total_is_lower_bound` (the gateway counts at most 10,000 rows past the page; older gateways leave the flag out). */
  total: number;
  total_is_lower_bound?: boolean;
  page: number;
  page_size: number;
  total_pages: number;
}

/** Rates of one price row, USD per million tokens, as exact decimal strings. */
export interface PriceRates {
  input: string;
  output: string;
  cacheWrite5m: string;
  cacheWrite1h: string;
  cacheRead: string;
}

/** One model of `GET /prices`. */
export interface PriceModel {
  id: string;
  aliases: string[];
  rows: {
    effectiveFrom?: string;
    unpriced: boolean;
    /** The row rests on independent trackers only (older gateways leave it out). */
    provisional?: boolean;
    standard?: PriceRates;
    batch?: PriceRates;
    longContext?: { thresholdPromptTokens: number; standard: PriceRates };
  }[];
}

const NUMBERS = ['REQUESTS', 'SPEND_USD', 'PROMPT_TOKENS', 'COMPLETION_TOKENS', 'UNPRICED'];

/**
 * A spend report as a table (exact dollars), and a total line; none for tags, since a request
 * with several tags counts under each.
 *
 * @example
 * formatSpendReport('team', rows); // ['TEAM    REQUESTS  SPEND_USD  …', 'search  2         0.007      …', …]
 */
export function formatSpendReport(by: SpendGroup, rows: readonly SpendReportRow[]): string[] {
  if (rows.length === 0) return ['no requests in this period'];
  const headers = by === 'key' ? ['KEY_ALIAS', 'TOKEN', ...NUMBERS] : [by.toUpperCase(), ...NUMBERS];
  const cells = rows.map((r) => [
    ...(by === 'key' ? [r.key_alias ?? '-'] : []),
    r.key ?? '-',
    String(r.requests),
    r.spend_exact,
    String(r.prompt_tokens),
    String(r.completion_tokens),
    String(r.unpriced_requests),
  ]);
  const lines = formatTable(headers, cells);
  if (by === 'tag') return lines;
  const requests = rows.reduce((n, r) => n + r.requests, 0);
  const unpriced = rows.reduce((n, r) => n + r.unpriced_requests, 0);
  const spend = rows.reduce((sum, r) => sum + usdToPico(r.spend_exact), 0n);
  return [...lines, `total: ${plural(requests, 'request')}, $${picoToUsd(spend)}${unpriced > 0 ? ` (${unpriced} unpriced: not included)` : ''}`];
}

/**
 * A page of spend logs as a table: the key by alias (else the start of its token), tokens in
 * and out, exact dollars or `unpriced`.
 *
 * @example
 * formatSpendLogs(page).at(-1); // '2 requests'
 */
export function formatSpendLogs(page: SpendLogPage): string[] {
  if (page.total === 0) return ['no requests'];
  const rows = page.data.map((r) => [
    r.startTime.replace(/\.\d+Z$/, 'Z'),
    r.key_alias ?? r.api_key?.slice(0, 12) ?? '-',
    r.call_type,
    r.model ?? '-',
    r.end_user ?? '-',
    r.request_tags.length === 0 ? '-' : r.request_tags.join(','),
    String(r.status_code),
    String(r.prompt_tokens),
    String(r.completion_tokens),
    r.unpriced ? 'unpriced' : r.estimated ? `~${r.spend_exact} (estimated)` : r.spend_exact,
  ]);
  const table = formatTable(['TIME', 'KEY', 'CALL', 'MODEL', 'END_USER', 'TAGS', 'STATUS', 'PROMPT_TOKENS', 'COMPLETION_TOKENS', 'SPEND_USD'], rows);
  const footer =
    page.total > page.data.length || page.total_is_lower_bound
      ? `newest ${page.data.length} of ${page.total}${page.total_is_lower_bound ? '+' : ''} requests (--limit N for more)`
      : plural(page.total, 'request');
  return [...table, footer];
}

/**
 * The price book as a table, one line per dated price row, rates in USD per million tokens.
 * The default view fits a 100-column terminal (no aliases, no long-context rates); `wide`
 * shows every column.
 *
 * @example
 * formatPrices(models)[0]; // 'USD per million tokens; FROM: in force from that day (UTC), …'
 */
export function formatPrices(models: readonly PriceModel[], options: { wide?: boolean } = {}): string[] {
  const wide = options.wide ?? false;
  const rows = models.flatMap((m) =>
    m.rows.map((r) => {
      // Provisional rows (independent trackers only): FLAG in the wide view, a * on the model in the narrow one.
      const model = wide || !r.provisional ? m.id : `${m.id}*`;
      const head = [model, ...(wide ? [m.aliases.length === 0 ? '-' : m.aliases.join(',')] : []), r.effectiveFrom ?? '-'];
      const flag = wide ? [r.provisional ? 'provisional' : '-'] : [];
      if (r.unpriced || !r.standard) return [...head, 'unpriced', ...Array<string>(wide ? 7 : 6).fill('-'), ...flag];
      const s = r.standard;
      const lc = r.longContext;
      const rates = [s.input, s.output, s.cacheWrite5m, s.cacheWrite1h, s.cacheRead, r.batch?.input ?? '-', r.batch?.output ?? '-'];
      return [...head, ...rates, ...(wide ? [lc ? `>${lc.thresholdPromptTokens}: ${lc.standard.input}/${lc.standard.output}` : '-'] : []), ...flag];
    }),
  );
  const headers = wide
    ? ['MODEL', 'ALIASES', 'FROM', 'INPUT', 'OUTPUT', 'CACHE_WRITE_5M', 'CACHE_WRITE_1H', 'CACHE_READ', 'BATCH_INPUT', 'BATCH_OUTPUT', 'LONG_CONTEXT_IN/OUT', 'FLAG']
    : ['MODEL', 'FROM', 'IN', 'OUT', 'W5M', 'W1H', 'READ', 'B_IN', 'B_OUT'];
  const legend = wide
    ? 'USD per million tokens; FROM: in force from that day (UTC), "-": from the start; FLAG provisional: rests on independent trackers only (see the row\'s source with --json).'
    : 'USD/MTok. FROM: in force from (UTC). W5M/W1H: cache writes, READ: reads, B_: batch. *: provisional.';
  return [legend, ...formatTable(headers, rows)];
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
