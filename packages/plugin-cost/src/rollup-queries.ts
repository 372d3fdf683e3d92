import { isPostgres, sql, type Kysely } from '@tollgate/storage';
import { joinSpendSum, spendPerValue, type LedgerStore } from './ledger-store.js';
import { DAY_MS, END_USER_ROLLUP, KEY_ROLLUP, PER_KEY_ROLLUP, PER_KEY_WEEK_ROLLUP, PER_MODEL_ROLLUP, PER_TEAM_ROLLUP, PER_USER_ROLLUP, spanDays, spanStart, TAG_ROLLUP } from './ledger-rollups.js';
import type { DaySpend, EndUserActivity, GroupBy, SpendGroup } from './spend-queries.js';

type Db = LedgerStore['db'];
type Dimension = 'api_key' | 'user_id' | 'team_id' | 'end_user' | 'tag';
// The rollup tables are not in the ledger's typed tables: their columns follow the specs.
type AnyDb = Kysely<any>;

/** Whole UTC days, by day number: `fromDay` inclusive, `toDay` exclusive; either open. */
export interface DayRange {
  fromDay?: number;
  toDay?: number;
}

const KEY_COLUMN = { key: 'api_key', user: 'user_id', team: 'team_id', model: 'model' } as const;

/**
 * The report queries over the daily rollups: what /spend/report, /spend/tags,
 * /customer/info and the budgets' totals read instead of scanning the ledger's rows. '' in a
 * grouping column is "none" (null in the answers).
 */
export class RollupQueries {
  private readonly db: AnyDb;

  constructor(db: Db) {
    this.db = db as unknown as AnyDb;
  }

  /**
   * `apiKey` (one key's groups) only for the groupings of the key rollup: key, user, team,
   * model. With `limit`, only the largest `limit` groups, chosen by the database (tens of
   * thousands of end users need not come back to be sorted here).
   */
  async report(groupBy: GroupBy, days: DayRange & { apiKey?: string }, limit?: number): Promise<SpendGroup[]> {
    const [table, column] =
      groupBy === 'tag'
        ? [TAG_ROLLUP.table, 'tag']
        : groupBy === 'end_user'
          ? [END_USER_ROLLUP.table, 'end_user']
          : [keyTable([KEY_COLUMN[groupBy as keyof typeof KEY_COLUMN]], days.apiKey !== undefined), KEY_COLUMN[groupBy as keyof typeof KEY_COLUMN]];
    const alias = groupBy === 'key' ? sql<string | null>`max(nullif(key_alias, ''))` : sql<string | null>`null`;
    const pg = isPostgres(this.db);
    // The top end users of a window are picked from the spend alone, which the end-user index
    // holds (migration 015): summed in end-user order without reading the table; only the
    // winners' rows are read for the other sums.
    const winners =
      limit !== undefined && groupBy === 'end_user'
        ? largestFirst(inDays(this.db.selectFrom(table), days).select(column).groupBy(column), column, pg).limit(limit)
        : undefined;
    // By key: whole 7-day spans from the weekly per-key rollup, edge days from the daily one (migration 016).
    const spans = table === PER_KEY_ROLLUP.table;
    const query = (db: AnyDb): Promise<GroupRow[]> =>
      (spans ? inSpans(db, days, column) : inDays(db.selectFrom(table), days))
        .$if(days.apiKey !== undefined, (q) => q.where('api_key', '=', days.apiKey!))
        .$if(winners !== undefined, (q) => q.where(column, 'in', winners!))
        .select([sql.ref<string>(column).as('k'), alias.as('alias'), ...sums()])
        .groupBy(column)
        .$if(limit !== undefined, (q) => largestFirst(q, column, pg).limit(limit!))
        .execute();
    const rows = spans ? await serially(this.db, query) : await query(this.db);
    return rows.map((r) => ({
      key: r.k === '' ? null : r.k,
      ...(groupBy === 'key' ? { keyAlias: r.alias } : {}),
      spend: joinSpendSum(r),
      requests: Number(r.requests),
      promptTokens: Number(r.prompt_tokens ?? 0),
      completionTokens: Number(r.completion_tokens ?? 0),
      unpricedRequests: Number(r.unpriced_requests ?? 0),
    }));
  }

  /** Spend, requests, failures and unpriced requests per UTC day, oldest first (the key rollup). */
  async daily(f: DayRange & { apiKey?: string; userId?: string; model?: string }): Promise<DaySpend[]> {
    const columns = [...(f.userId === undefined ? [] : ['user_id']), ...(f.model === undefined ? [] : ['model'])];
    const rows = await inDays(this.db.selectFrom(keyTable(columns, f.apiKey !== undefined)), f)
      .$if(f.apiKey !== undefined, (q) => q.where('api_key', '=', f.apiKey!))
      .$if(f.userId !== undefined, (q) => q.where('user_id', '=', f.userId!))
      .$if(f.model !== undefined, (q) => q.where('model', '=', f.model!))
      .select([sql<number>`day`.as('day'), ...sums(), sql<number | string | null>`sum(errors)`.as('failed')])
      .groupBy('day')
      .orderBy('day')
      .execute();
    return rows.map((r) => ({
      day: Number(r.day) * DAY_MS,
      spend: joinSpendSum(r),
      requests: Number(r.requests),
      failedRequests: Number(r.failed ?? 0),
      unpricedRequests: Number(r.unpriced_requests ?? 0),
    }));
  }

  async endUser(endUser: string): Promise<EndUserActivity> {
    const r = await this.db
      .selectFrom(END_USER_ROLLUP.table)
      .select([
        sql<number | string | null>`sum(requests)`.as('n'),
        sql<number | string | null>`min(first_time)`.as('first'),
        sql<number | string | null>`max(last_time)`.as('last'),
        ...spendSum(),
      ])
      .where('end_user', '=', endUser)
      .executeTakeFirstOrThrow();
    return {
      requests: Number(r.n ?? 0),
      spend: joinSpendSum(r),
      firstSeen: r.first === null ? undefined : Number(r.first),
      lastSeen: r.last === null ? undefined : Number(r.last),
    };
  }

  /** Exact all-time spend per value of a dimension (the running totals' start). */
  async totalsBy(dimension: Dimension): Promise<Map<string, bigint>> {
    // Each dimension's smallest rollup; its column has the dimension's name. Keys: the spans of
    // 7 days (migration 016) hold all days in a seventh of the per-key rows.
    const table = { tag: TAG_ROLLUP, end_user: END_USER_ROLLUP, user_id: PER_USER_ROLLUP, team_id: PER_TEAM_ROLLUP, api_key: PER_KEY_WEEK_ROLLUP }[dimension].table;
    const rows = await this.db
      .selectFrom(table)
      .select([sql.ref<string>(dimension).as('k'), ...spendSum()])
      .where(dimension, '<>', '')
      .groupBy(dimension)
      .execute();
    return new Map(rows.map((r) => [r.k, joinSpendSum(r)]));
  }

  /** Each key's all-time spend as budgets count it: its spend less what budgets leave out (the running totals' start). */
  async keyBudgetTotals(): Promise<Map<string, bigint>> {
    const rows = await this.db.selectFrom(KEY_ROLLUP.table).select([sql.ref<string>('api_key').as('k'), ...budgetSpendSum()]).where('api_key', '<>', '').groupBy('api_key').execute();
    return new Map(rows.map((r) => [r.k, joinSpendSum(r)]));
  }

  /** Every replica's committed spend of these keys as budgets count it (budgets across replicas when rows are not all stored). */
  async keySpend(tokens: readonly string[]): Promise<Map<string, bigint>> {
    return spendPerValue(tokens, (chunk) =>
      this.db.selectFrom(KEY_ROLLUP.table).select([sql.ref<string>('api_key').as('k'), ...budgetSpendSum()]).where('api_key', 'in', chunk).groupBy('api_key').execute(),
    );
  }

  /** Committed spend of these end users from `fromDay` on (all days when undefined): end-user budgets. */
  async endUserSpend(endUsers: readonly string[], fromDay?: number): Promise<Map<string, bigint>> {
    return spendPerValue(endUsers, (chunk) =>
      inDays(this.db.selectFrom(END_USER_ROLLUP.table), { fromDay }).select([sql.ref<string>('end_user').as('k'), ...spendSum()]).where('end_user', 'in', chunk).groupBy('end_user').execute(),
    );
  }
}

/**
 * The smallest rollup that has these columns (to group or filter by): the model, user or team
 * rollup, the per-key one (key, alias, user, team), else the key rollup (key × user × team ×
 * model). One key's rows come from the key rollup, whose (api_key, day) index finds them; the
 * others are read by ranges of days.
 */
function keyTable(columns: readonly string[], oneKey: boolean): string {
  if (oneKey) return KEY_ROLLUP.table;
  if (columns.every((c) => c === 'model')) return PER_MODEL_ROLLUP.table;
  if (columns.every((c) => c === 'user_id')) return PER_USER_ROLLUP.table;
  if (columns.every((c) => c === 'team_id')) return PER_TEAM_ROLLUP.table;
  if (!columns.includes('model')) return PER_KEY_ROLLUP.table;
  return KEY_ROLLUP.table;
}

interface GroupRow {
  k: string;
  alias: string | null;
  spend_micro: string | null;
  spend_rest: string | null;
  requests: number | string;
  prompt_tokens: number | string | null;
  completion_tokens: number | string | null;
  unpriced_requests: number | string | null;
}

/** The rollups' spend, summed as the ledger's is (see exactSpendSum), for joinSpendSum. */
function spendSum() {
  return [sql<string | null>`cast(sum(spend_micro) as text)`.as('spend_micro'), sql<string | null>`cast(sum(spend_rest) as text)`.as('spend_rest')] as const;
}

/** The key rollup's spend less the spend budgets leave out (`budget_exempt` rows), for joinSpendSum. */
function budgetSpendSum() {
  return [
    sql<string | null>`cast(sum(spend_micro - exempt_micro) as text)`.as('spend_micro'),
    sql<string | null>`cast(sum(spend_rest - exempt_rest) as text)`.as('spend_rest'),
  ] as const;
}

function sums() {
  return [
    ...spendSum(),
    sql<number | string>`sum(requests)`.as('requests'),
    sql<number | string | null>`sum(prompt_tokens)`.as('prompt_tokens'),
    sql<number | string | null>`sum(completion_tokens)`.as('completion_tokens'),
    sql<number | string | null>`sum(unpriced)`.as('unpriced_requests'),
  ] as const;
}

/**
 * Largest spend first, exactly, then by name with "none" ('') last, in code-point order, as
 * bySpendThenKey sorts. PostgreSQL sums bigints into numerics, so the spend in pico-dollars is
 * one exact number. SQLite's integers would overflow it: there the order is by whole
 * micro-dollars, then the pico remainder (taken into [0, 10^6) even when repricing made a sum of
 * remainders negative), the same order.
 */
function largestFirst<Q extends { orderBy(...args: any[]): Q }>(q: Q, column: string, pg: boolean): Q {
  const million = sql.lit(1_000_000);
  const none = sql`case when ${sql.ref(column)} = '' then 1 else 0 end`;
  if (pg) return q.orderBy(sql`sum(spend_micro) * ${million} + sum(spend_rest)`, 'desc').orderBy(none).orderBy(sql`${sql.ref(column)} collate "C"`);
  const rest = sql`((sum(spend_rest) % ${million}) + ${million}) % ${million}`;
  const micro = sql`sum(spend_micro) + (sum(spend_rest) - ${rest}) / ${million}`;
  return q.orderBy(micro, 'desc').orderBy(rest, 'desc').orderBy(none).orderBy(sql.ref(column));
}

/** The columns a report reads of the per-key rollups. */
const REPORT_COLUMNS = ['key_alias', 'spend_micro', 'spend_rest', 'requests', 'prompt_tokens', 'completion_tokens', 'unpriced'];

/**
 * The per-key rollup's rows of a range of days, for a report grouped by `column`: the whole
 * spans of 7 days in it from PER_KEY_WEEK_ROLLUP, the days before the first and after the last
 * from PER_KEY_ROLLUP (the range alone when it holds no whole span), as one table to group.
 */
function inSpans(db: AnyDb, days: DayRange, column: string) {
  const span = spanDays(PER_KEY_WEEK_ROLLUP);
  const first = days.fromDay === undefined ? undefined : spanStart(days.fromDay + span - 1, span);
  const end = days.toDay === undefined ? undefined : spanStart(days.toDay, span);
  if (first !== undefined && end !== undefined && first >= end) return inDays(db.selectFrom(PER_KEY_ROLLUP.table), days);
  const cols = [...new Set([column, ...REPORT_COLUMNS])];
  const parts = [inDays(db.selectFrom(PER_KEY_WEEK_ROLLUP.table).select(cols), { fromDay: first, toDay: end })];
  if (first !== undefined && first > days.fromDay!) parts.push(inDays(db.selectFrom(PER_KEY_ROLLUP.table).select(cols), { fromDay: days.fromDay, toDay: first }));
  if (end !== undefined && end < days.toDay!) parts.push(inDays(db.selectFrom(PER_KEY_ROLLUP.table).select(cols), { fromDay: end, toDay: days.toDay }));
  const union = parts.slice(1).reduce((all, part) => all.unionAll(part), parts[0]!);
  return db.selectFrom(union.as('r'));
}

/**
 * Runs `fn` without parallel workers on PostgreSQL (in a transaction, `set local`). For the
 * union of spans and edge days (tens of thousands of rows, estimated at 200 groups) the
 * planner picks a Parallel Append under a Gather Merge, whose start and gather cost more than
 * they save: on the 10M-row bench copy at load ~3, 186-371 ms against 53-200 ms serially.
 */
async function serially<T>(db: AnyDb, fn: (db: AnyDb) => Promise<T>): Promise<T> {
  if (!isPostgres(db) || db.isTransaction) return fn(db);
  return db.transaction().execute(async (tx) => {
    await sql`set local max_parallel_workers_per_gather = 0`.execute(tx);
    return fn(tx);
  });
}

function inDays<Q extends { where(...args: any[]): Q }>(q: Q, { fromDay, toDay }: DayRange): Q {
  if (fromDay !== undefined) q = q.where('day', '>=', fromDay);
  if (toDay !== undefined) q = q.where('day', '<', toDay);
  return q;
}
