import { ADMIN_GUARD, GatewayError, type AdminScope, type PluginApi, type RouteRequest } from '@tollgate/core';
import type { LedgerStore } from './ledger-store.js';
import type { PriceBook } from './price-book.js';
import { badParam, keyHashOf, paging, readParams, timeRange } from './spend-params.js';
import { GROUP_BY, SpendQueries, type GroupBy, type LogFilter } from './spend-queries.js';
import { daySpendView, spendLogView, spendReportView, tagSpendView } from './spend-views.js';
import type { SpendWriter } from './spend-writer.js';

export interface SpendRouteDeps {
  store: LedgerStore;
  writer: SpendWriter;
  book: PriceBook;
}

/** Rows /spend/logs returns without paging (LiteLLM returns a plain array too). */
export const MAX_UNPAGED_LOGS = 10_000;

/**
 * How far past a page's first row /spend/logs counts: `total` is exact up to there, else a
 * lower bound (`total_is_lower_bound`), so a page costs at most this many rows of counting
 * however large the ledger, and the next page always looks further.
 */
export const COUNT_AHEAD = 10_000;

const RANGE = ['start_date', 'end_date'];
const LOG_FILTERS = ['api_key', 'request_id', 'user_id', 'end_user', 'tag', 'model', 'status', ...RANGE];
const LOG_PARAMS = [...LOG_FILTERS, 'page', 'page_size'];

/**
 * The reporting API, in LiteLLM's shapes: /spend/logs, /spend/tags, /spend/report,
 * /spend/queue and /prices (/customer/info is with the end users, customer-routes.ts). Every route needs admin credentials, checked per
 * request through ADMIN_GUARD; without an auth plugin the reports are refused.
 */
export function registerSpendRoutes(api: PluginApi<any>, deps: SpendRouteDeps): void {
  const queries = new SpendQueries(deps.store.db, deps.store.shape);
  const admin = (path: string, handler: (params: Map<string, string>, req: RouteRequest) => Promise<unknown> | unknown, allowed: readonly string[] = []) =>
    api.route('GET', path, async (req) => {
      requireSpendAdmin(api, req);
      return { body: await handler(readParams(req.query, allowed), req) };
    });

  // Read routes a virtual key may call too: its rows only, whatever it asks for.
  const scoped = (path: string, handler: (params: Map<string, string>, scope: AdminScope) => Promise<unknown>, allowed: readonly string[]) =>
    api.route('GET', path, async (req) => {
      const scope = await spendScope(api, req);
      return { body: await handler(readParams(req.query, allowed), scope) };
    });

  scoped('/spend/logs', (p, scope) => spendLogs(queries, p, scope), LOG_PARAMS);
  scoped('/spend/daily', async (p, scope) => (await queries.daily(logFilter(p, scope))).map(daySpendView), LOG_FILTERS);
  admin('/spend/tags', async (p) => (await queries.report('tag', timeRange(p))).map(tagSpendView), RANGE);
  scoped('/spend/report', async (p, scope) => {
    const limit = p.get('limit');
    const groups = await queries.report(groupBy(p), { ...timeRange(p), ...ownKey(p, scope) }, limit === undefined ? undefined : integerParam('limit', limit));
    return groups.map(spendReportView);
  }, ['group_by', 'api_key', 'limit', ...RANGE]);
  admin('/spend/queue', () => deps.writer.state());
  admin('/prices', () => deps.book.models());
}

/** Admin credentials through ADMIN_GUARD, for every spend route; refused without an auth plugin. */
export function requireSpendAdmin(api: PluginApi<any>, req: RouteRequest): void {
  if (!api.has(ADMIN_GUARD)) throw new GatewayError('TG_ERR_FORBIDDEN', 'spend reports need the auth plugin');
  api.resolve(ADMIN_GUARD).requireAdmin(req);
}

/** The caller's scope; without an auth plugin the reports are refused. */
async function spendScope(api: PluginApi<any>, req: RouteRequest): Promise<AdminScope> {
  if (!api.has(ADMIN_GUARD)) throw new GatewayError('TG_ERR_FORBIDDEN', 'spend reports need the auth plugin');
  return api.resolve(ADMIN_GUARD).scope(req);
}

/** The `api_key` filter: any key for the admin; a virtual key's own, always, and no other. */
function ownKey(p: Map<string, string>, scope: AdminScope): { apiKey?: string } {
  const asked = p.get('api_key');
  const hash = asked === undefined ? undefined : keyHashOf(asked);
  if (scope.role === 'admin') return hash === undefined ? {} : { apiKey: hash };
  if (hash !== undefined && hash !== scope.keyHash) throw new GatewayError('TG_ERR_FORBIDDEN', 'a virtual key may read only its own spend');
  return { apiKey: scope.keyHash };
}

function logFilter(p: Map<string, string>, scope: AdminScope): LogFilter {
  const filter: LogFilter = { ...timeRange(p), ...ownKey(p, scope) };
  const fields = [['request_id', 'requestId'], ['user_id', 'userId'], ['end_user', 'endUser'], ['tag', 'tag'], ['model', 'model']] as const;
  for (const [param, field] of fields) {
    const value = p.get(param);
    if (value !== undefined) filter[field] = value;
  }
  const status = p.get('status');
  if (status !== undefined) filter.status = status === 'ok' || status === 'error' ? status : integerParam('status', status);
  return filter;
}

function integerParam(name: string, text: string): number {
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1)) throw badParam(`${name} must be a positive whole number${name === 'status' ? ', ok or error' : ''}, got ${JSON.stringify(text)}`);
  return n;
}

async function spendLogs(queries: SpendQueries, p: Map<string, string>, scope: AdminScope) {
  const filter = logFilter(p, scope);
  const page = paging(p);
  if (!page) return (await queries.logs(filter, { offset: 0, limit: MAX_UNPAGED_LOGS })).map(spendLogView);
  const offset = (page.page - 1) * page.pageSize;
  const rows = await queries.logs(filter, { offset, limit: page.pageSize });
  // A part-filled page is the last: its rows give the total. Otherwise count, but at most
  // COUNT_AHEAD rows past this page's start.
  const total =
    rows.length > 0 && rows.length < page.pageSize ? { count: offset + rows.length, atLeast: false } : await queries.countLogs(filter, offset + COUNT_AHEAD);
  return {
    data: rows.map(spendLogView),
    total: total.count,
    total_is_lower_bound: total.atLeast,
    page: page.page,
    page_size: page.pageSize,
    total_pages: Math.ceil(total.count / page.pageSize),
  };
}

function groupBy(p: Map<string, string>): GroupBy {
  const value = p.get('group_by');
  if (value === undefined) throw badParam(`query parameter group_by is required (one of ${GROUP_BY.join(', ')})`);
  if (!(GROUP_BY as readonly string[]).includes(value)) throw badParam(`group_by must be one of ${GROUP_BY.join(', ')}, got ${JSON.stringify(value)}`);
  return value as GroupBy;
}
