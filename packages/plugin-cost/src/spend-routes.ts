import { ADMIN_GUARD, GatewayError, picoToNumber, picoToUsd, type PluginApi, type RouteRequest } from '@tollgate/core';
import type { LedgerStore } from './ledger-store.js';
import type { PriceBook } from './price-book.js';
import { badParam, keyHashOf, paging, readParams, timeRange } from './spend-params.js';
import { GROUP_BY, SpendQueries, type GroupBy, type LogFilter } from './spend-queries.js';
import type { RunningTotals } from './spend-totals.js';
import { iso, spendLogView, spendReportView, tagSpendView } from './spend-views.js';
import type { SpendWriter } from './spend-writer.js';

export interface SpendRouteDeps {
  store: LedgerStore;
  totals: RunningTotals;
  writer: SpendWriter;
  book: PriceBook;
}

/** Rows /spend/logs returns without paging (LiteLLM returns a plain array too). */
export const MAX_UNPAGED_LOGS = 10_000;

const RANGE = ['start_date', 'end_date'];
const LOG_PARAMS = ['api_key', 'request_id', 'user_id', 'end_user', 'tag', 'model', ...RANGE, 'page', 'page_size'];

/**
 * The reporting API, in LiteLLM's shapes: /spend/logs, /spend/tags, /spend/report,
 * /customer/info, /spend/queue and /prices. Every route needs admin credentials, checked per
 * request through ADMIN_GUARD; without an auth plugin the reports are refused.
 */
export function registerSpendRoutes(api: PluginApi<any>, deps: SpendRouteDeps): void {
  const queries = new SpendQueries(deps.store.db, deps.store.shape);
  const admin = (path: string, handler: (params: Map<string, string>, req: RouteRequest) => Promise<unknown> | unknown, allowed: readonly string[] = []) =>
    api.route('GET', path, async (req) => {
      requireSpendAdmin(api, req);
      return { body: await handler(readParams(req.query, allowed), req) };
    });

  admin('/spend/logs', (p) => spendLogs(queries, p), LOG_PARAMS);
  admin('/spend/tags', async (p) => (await queries.report('tag', timeRange(p))).map(tagSpendView), RANGE);
  admin('/spend/report', async (p) => (await queries.report(groupBy(p), timeRange(p))).map(spendReportView), ['group_by', ...RANGE]);
  admin('/customer/info', (p) => customerInfo(queries, deps.totals, p), ['end_user_id']);
  admin('/spend/queue', () => deps.writer.state());
  admin('/prices', () => deps.book.models());
}

/** Admin credentials through ADMIN_GUARD, for every spend route; refused without an auth plugin. */
export function requireSpendAdmin(api: PluginApi<any>, req: RouteRequest): void {
  if (!api.has(ADMIN_GUARD)) throw new GatewayError('TG_ERR_FORBIDDEN', 'spend reports need the auth plugin');
  api.resolve(ADMIN_GUARD).requireAdmin(req);
}

async function spendLogs(queries: SpendQueries, p: Map<string, string>) {
  const filter: LogFilter = { ...timeRange(p) };
  const apiKey = p.get('api_key');
  if (apiKey !== undefined) filter.apiKey = keyHashOf(apiKey);
  const fields = [['request_id', 'requestId'], ['user_id', 'userId'], ['end_user', 'endUser'], ['tag', 'tag'], ['model', 'model']] as const;
  for (const [param, field] of fields) {
    const value = p.get(param);
    if (value !== undefined) filter[field] = value;
  }
  const page = paging(p);
  if (!page) return (await queries.logs(filter, { offset: 0, limit: MAX_UNPAGED_LOGS })).map(spendLogView);
  const [rows, total] = await Promise.all([
    queries.logs(filter, { offset: (page.page - 1) * page.pageSize, limit: page.pageSize }),
    queries.countLogs(filter),
  ]);
  return { data: rows.map(spendLogView), total, page: page.page, page_size: page.pageSize, total_pages: Math.ceil(total / page.pageSize) };
}

async function customerInfo(queries: SpendQueries, totals: RunningTotals, p: Map<string, string>) {
  const id = p.get('end_user_id');
  if (id === undefined) throw badParam('query parameter end_user_id is required');
  // The running total is in step with this instance's rows still queued; the database's sum
  // has every replica's written rows. Both are at most the truth: the larger counts nothing twice.
  const seen = await queries.endUser(id);
  const own = totals.get('end_user', id);
  const spend = own > seen.spend ? own : seen.spend;
  if (seen.requests === 0 && spend === 0n) throw new GatewayError('TG_ERR_NOT_FOUND', `no requests recorded for end user ${JSON.stringify(id)}`);
  return {
    user_id: id,
    spend: picoToNumber(spend),
    spend_exact: picoToUsd(spend),
    request_count: seen.requests,
    first_seen: seen.firstSeen === undefined ? null : iso(seen.firstSeen),
    last_seen: seen.lastSeen === undefined ? null : iso(seen.lastSeen),
  };
}

function groupBy(p: Map<string, string>): GroupBy {
  const value = p.get('group_by');
  if (value === undefined) throw badParam(`query parameter group_by is required (one of ${GROUP_BY.join(', ')})`);
  if (!(GROUP_BY as readonly string[]).includes(value)) throw badParam(`group_by must be one of ${GROUP_BY.join(', ')}, got ${JSON.stringify(value)}`);
  return value as GroupBy;
}
