import { sql, type Kysely } from '@tollgate/storage';
import { joinSpendSum, type LedgerStore } from './ledger-store.js';
import { DAY_MS, END_USER_ROLLUP, KEY_ROLLUP, TAG_ROLLUP } from './ledger-rollups.js';
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

  /** `apiKey` (one key's groups) only for the groupings of the key rollup: key, user, team, model. */
  async report(groupBy: GroupBy, days: DayRange & { apiKey?: string }): Promise<SpendGroup[]> {
    const [table, column] =
      groupBy === 'tag' ? [TAG_ROLLUP.table, 'tag'] : groupBy === 'end_user' ? [END_USER_ROLLUP.table, 'end_user'] : [KEY_ROLLUP.table, KEY_COLUMN[groupBy as keyof typeof KEY_COLUMN]];
    const alias = groupBy === 'key' ? sql<string | null>`max(nullif(key_alias, ''))` : sql<string | null>`null`;
    const rows: GroupRow[] = await inDays(this.db.selectFrom(table), days)
      .$if(days.apiKey !== undefined, (q) => q.where('api_key', '=', days.apiKey!))
      .select([sql.ref<string>(column).as('k'), alias.as('alias'), ...sums()])
      .groupBy(column)
      .execute();
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
    const rows = await inDays(this.db.selectFrom(KEY_ROLLUP.table), f)
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
    const [table, column] = dimension === 'tag' ? [TAG_ROLLUP.table, 'tag'] : dimension === 'end_user' ? [END_USER_ROLLUP.table, 'end_user'] : [KEY_ROLLUP.table, dimension];
    const rows = await this.db
      .selectFrom(table)
      .select([sql.ref<string>(column).as('k'), ...spendSum()])
      .where(column, '<>', '')
      .groupBy(column)
      .execute();
    return new Map(rows.map((r) => [r.k, joinSpendSum(r)]));
  }

  /** Every replica's committed spend of these keys (budgets across replicas when rows are not all stored). */
  async keySpend(tokens: readonly string[]): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    for (let i = 0; i < tokens.length; i += 1000) {
      const rows = await this.db
        .selectFrom(KEY_ROLLUP.table)
        .select([sql.ref<string>('api_key').as('k'), ...spendSum()])
        .where('api_key', 'in', tokens.slice(i, i + 1000))
        .groupBy('api_key')
        .execute();
      for (const r of rows) out.set(r.k, joinSpendSum(r));
    }
    return out;
  }

  /** Committed spend of these end users from `fromDay` on (all days when undefined): end-user budgets. */
  async endUserSpend(endUsers: readonly string[], fromDay?: number): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    for (let i = 0; i < endUsers.length; i += 1000) {
      const rows = await inDays(this.db.selectFrom(END_USER_ROLLUP.table), { fromDay })
        .select([sql.ref<string>('end_user').as('k'), ...spendSum()])
        .where('end_user', 'in', endUsers.slice(i, i + 1000))
        .groupBy('end_user')
        .execute();
      for (const r of rows) out.set(r.k, joinSpendSum(r));
    }
    return out;
  }
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

function sums() {
  return [
    ...spendSum(),
    sql<number | string>`sum(requests)`.as('requests'),
    sql<number | string | null>`sum(prompt_tokens)`.as('prompt_tokens'),
    sql<number | string | null>`sum(completion_tokens)`.as('completion_tokens'),
    sql<number | string | null>`sum(unpriced)`.as('unpriced_requests'),
  ] as const;
}

function inDays<Q extends { where(...args: any[]): Q }>(q: Q, { fromDay, toDay }: DayRange): Q {
  if (fromDay !== undefined) q = q.where('day', '>=', fromDay);
  if (toDay !== undefined) q = q.where('day', '<', toDay);
  return q;
}
