import { isPostgres, sql } from '@tollgate/storage';
import type { Pico } from '@tollgate/core';
import { exactSpendSum, joinSpendSum, type LedgerShape, type LedgerStore } from './ledger-store.js';
import { DAY_MS } from './ledger-rollups.js';
import { RollupQueries } from './rollup-queries.js';
import { filteredLogs, inRange, type LogFilter } from './log-filter.js';
import { badParam, type TimeRange } from './spend-params.js';

export type { LogFilter } from './log-filter.js';

type Db = LedgerStore['db'];

/** What /spend/report groups by, as LiteLLM names it. */
export const GROUP_BY = ['key', 'user', 'team', 'end_user', 'tag', 'model', 'session', 'client', 'billing'] as const;
export type GroupBy = (typeof GROUP_BY)[number];


const GROUP_COLUMN = { key: 'api_key', user: 'user_id', team: 'team_id', end_user: 'end_user', model: 'model', session: 'session_id', client: 'client', billing: 'billing' } as const;

/** Every ledger column but `spend`, which is read exactly as text instead (`spend_text`). */
const LOG_COLUMNS = [
  'request_id', 'upstream_request_id', 'message_id', 'call_type', 'model', 'api_key', 'key_alias', 'user_id', 'team_id',
  'end_user', 'request_tags', 'status', 'prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens',
  'cache_read_input_tokens', 'cache_creation_input_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens',
  'web_search_requests', 'service_tier', 'inference_geo', 'speed', 'unpriced', 'stream', 'aborted', 'batch_id',
  'start_time', 'end_time', 'completion_start_time', 'session_id', 'agent_id', 'client', 'billing', 'served_model', 'estimated', 'upstream',
  'budget_exempt',
] as const;

/** One ledger row as read back: flags as 0/1, tags as JSON text, spend as exact pico text. */
export type StoredLog = Awaited<ReturnType<SpendQueries['logs']>>[number];

/** Exact sums of one group. `spend` is pico-USD. */
export interface SpendGroup {
  key: string | null;
  /** Grouped by key: the key's alias (if it was renamed, the alphabetically last one). */
  keyAlias?: string | null;
  spend: bigint;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  unpricedRequests: number;
}


/** One UTC day of the ledger. */
export interface DaySpend {
  day: number;
  spend: bigint;
  requests: number;
  failedRequests: number;
  unpricedRequests: number;
}

export interface EndUserActivity {
  requests: number;
  /** Exact spend of the rows written so far (every replica's, on a shared database). */
  spend: Pico;
  /** Epoch ms of the first and last request; undefined without requests. */
  firstSeen: number | undefined;
  lastSeen: number | undefined;
}

/**
 * The report queries over the ledger, the same SQL on SQLite and PostgreSQL: money is summed
 * by the database in integers and read back as text, so no total passes through a float.
 * With rollups, reports read whole days from them and only the part-days at a range's edges
 * from rows; /spend/logs always reads rows.
 */
export class SpendQueries {
  private readonly rollups: RollupQueries | undefined;

  constructor(
    private readonly db: Db,
    private readonly shape: LedgerShape = { rows: 'all', rollups: false },
  ) {
    this.rollups = shape.rollups ? new RollupQueries(db) : undefined;
  }

  /** Rows matching `filter`, newest first. */
  logs(filter: LogFilter, window: { offset: number; limit: number }) {
    // By tag, the tag's index gives the rows newest first (its start_time is the row's).
    const newest = filter.tag === undefined ? 'l' : 't';
    return this.filtered(filter)
      .select(LOG_COLUMNS.map((c) => `l.${c}` as const))
      .select(sql<string>`cast(l.spend as text)`.as('spend_text'))
      .orderBy(sql.ref(`${newest}.start_time`), 'desc')
      .orderBy(sql.ref(`${newest}.request_id`), 'desc')
      .limit(window.limit)
      .offset(window.offset)
      .execute();
  }

  /**
   * The rows matching `filter`, counted up to `atMost`: a count of every match would read
   * all of them (millions on a large ledger), this stops at `atMost + 1`. `atLeast` is set
   * when there are more than `atMost`.
   */
  async countLogs(filter: LogFilter, atMost: number): Promise<{ count: number; atLeast: boolean }> {
    const { tag, from, to, ...others } = filter;
    // A tag (in a date range) alone: its index entries are its rows (a row's tags are written
    // and deleted with it), counted without looking each row up.
    const matches =
      tag !== undefined && Object.values(others).every((v) => v === undefined)
        ? this.db
            .selectFrom('tollgate_spend_tags')
            .select(sql<number>`1`.as('one'))
            .where('tag', '=', tag)
            .$if(from !== undefined, (q) => q.where('start_time', '>=', from!))
            .$if(to !== undefined, (q) => q.where('start_time', '<', to!))
            .limit(atMost + 1)
        : this.filtered(filter).select(sql<number>`1`.as('one')).limit(atMost + 1);
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from (${matches}) as m`.execute(this.db);
    const n = Number(rows[0]!.n);
    return n > atMost ? { count: atMost, atLeast: true } : { count: n, atLeast: false };
  }

  /**
   * Spend per group in the range, largest first (ties by name; requests without the dimension
   * last); with `limit`, the largest `limit` groups only.
   */
  async report(groupBy: GroupBy, range: TimeRange & { apiKey?: string }, limit?: number): Promise<SpendGroup[]> {
    const top = (groups: SpendGroup[]) => (limit === undefined ? groups : groups.slice(0, limit));
    if (!this.rollups || !fromRollups(groupBy, range.apiKey !== undefined)) return top(await this.rowReport(groupBy, range));
    const fromDay = range.from === undefined ? undefined : Math.ceil(range.from / DAY_MS);
    const toDay = range.to === undefined ? undefined : Math.floor(range.to / DAY_MS);
    if (fromDay !== undefined && toDay !== undefined && fromDay >= toDay) return top(await this.rowReport(groupBy, range));
    const edges: TimeRange[] = [];
    if (fromDay !== undefined && fromDay * DAY_MS !== range.from) edges.push({ from: range.from, to: fromDay * DAY_MS });
    if (toDay !== undefined && toDay * DAY_MS !== range.to) edges.push({ from: toDay * DAY_MS, to: range.to });
    // Whole days alone: the database picks the top groups. With part-days, a group outside the
    // rollups' top may climb into it, so every group comes back.
    const parts = [await this.rollups.report(groupBy, { fromDay, toDay, apiKey: range.apiKey }, edges.length === 0 ? limit : undefined)];
    for (const edge of edges) parts.push(await this.rowReport(groupBy, { ...edge, apiKey: range.apiKey }));
    return top(mergeGroups(parts).sort(bySpendThenKey));
  }

  /** The report from the ledger's rows alone (exact to the millisecond; scans them). */
  async rowReport(groupBy: GroupBy, range: TimeRange & { apiKey?: string }): Promise<SpendGroup[]> {
    if (this.shape.rows !== 'all') {
      throw badParam(
        `this gateway keeps daily rollups but not every request's row (ledger.rows: ${this.shape.rows}): reports take whole UTC days (dates, or datetimes at 00:00Z), and group by key, user, team, model, end user or tag (the last two without api_key)`,
      );
    }
    const rows =
      groupBy === 'tag'
        ? await this.tagRows(range)
        : await this.filtered(range)
            .select([sql.ref<string | null>(GROUP_COLUMN[groupBy]).as('k'), sql<string | null>`max(key_alias)`.as('alias'), ...aggregates()])
            .groupBy(GROUP_COLUMN[groupBy])
            .execute();
    return rows
      .map((r) => ({
        key: r.k,
        ...(groupBy === 'key' ? { keyAlias: r.alias } : {}),
        spend: spendOf(r),
        requests: Number(r.requests),
        promptTokens: Number(r.prompt_tokens ?? 0),
        completionTokens: Number(r.completion_tokens ?? 0),
        unpricedRequests: Number(r.unpriced_requests ?? 0),
      }))
      .sort(bySpendThenKey);
  }

  /**
   * Tag groups from rows. One key's (a virtual key's console): on PostgreSQL its rows by the
   * key's index, then each row's tags by their key in a LATERAL subquery (see `filtered`);
   * joined plainly, the planner hashed every tag of the range.
   */
  private tagRows(range: TimeRange & { apiKey?: string }) {
    const groups = [sql<string | null>`t.tag`.as('k'), sql<string | null>`null`.as('alias'), ...aggregates()] as const;
    if (range.apiKey !== undefined && isPostgres(this.db as never)) {
      const byKey = this.db
        .selectFrom('tollgate_spend_logs as l')
        .innerJoinLateral(
          (eb) => eb.selectFrom('tollgate_spend_tags as t').select('t.tag').whereRef('t.request_id', '=', 'l.request_id').whereRef('t.start_time', '=', 'l.start_time').offset(0).as('t'),
          (j) => j.onTrue(),
        )
        .where('l.api_key', '=', range.apiKey);
      return inRange(byKey, 'l.start_time', range).select(groups).groupBy('t.tag').execute();
    }
    return this.db
      .selectFrom('tollgate_spend_tags as t')
      .innerJoin('tollgate_spend_logs as l', 'l.request_id', 't.request_id')
      .select(groups)
      .$if(range.from !== undefined, (q) => q.where('t.start_time', '>=', range.from!))
      .$if(range.to !== undefined, (q) => q.where('t.start_time', '<', range.to!))
      .$if(range.apiKey !== undefined, (q) => q.where('l.api_key', '=', range.apiKey!))
      .groupBy('t.tag')
      .execute();
  }

  async endUser(endUser: string): Promise<EndUserActivity> {
    if (this.rollups) return this.rollups.endUser(endUser);
    const row = await this.db
      .selectFrom('tollgate_spend_logs')
      .select([
        sql<number | string>`count(*)`.as('n'),
        sql<number | string | null>`min(start_time)`.as('first'),
        sql<number | string | null>`max(start_time)`.as('last'),
        ...exactSpendSum(sql.ref('spend')),
      ])
      .where('end_user', '=', endUser)
      .executeTakeFirstOrThrow();
    return {
      requests: Number(row.n),
      spend: spendOf(row),
      firstSeen: row.first === null ? undefined : Number(row.first),
      lastSeen: row.last === null ? undefined : Number(row.last),
    };
  }

  /** Spend, requests, failures and unpriced requests per UTC day (epoch ms of its midnight), oldest first. */
  async daily(filter: LogFilter): Promise<DaySpend[]> {
    if (this.rollups && dailyFromRollups(filter)) {
      return this.rollups.daily({ fromDay: filter.from === undefined ? undefined : filter.from / DAY_MS, toDay: filter.to === undefined ? undefined : filter.to / DAY_MS, apiKey: filter.apiKey, userId: filter.userId, model: filter.model });
    }
    // Literals, not parameters: PostgreSQL matches the GROUP BY to the SELECT by its text.
    const day = sql<number | string>`(l.start_time / ${sql.lit(DAY_MS)}) * ${sql.lit(DAY_MS)}`;
    const rows = await this.filtered(filter)
      .select([
        day.as('day'),
        ...aggregates(),
        sql<number | string | null>`sum(case when status >= 400 then 1 else 0 end)`.as('failed'),
      ])
      .groupBy(day)
      .orderBy(day)
      .execute();
    return rows.map((r) => ({
      day: Number(r.day),
      spend: spendOf(r),
      requests: Number(r.requests),
      failedRequests: Number(r.failed ?? 0),
      unpricedRequests: Number(r.unpriced_requests ?? 0),
    }));
  }

  private filtered(f: LogFilter) {
    return filteredLogs(this.db, f);
  }
}

/**
 * The sums of a report row. Column names are unqualified: only the ledger table has them.
 * Counts and token sums come back as numbers or, from PostgreSQL's numeric, as text.
 * SQLite's integer sum() fails past 2^63 (about $9.2M in pico-dollars), so spend is summed
 * as whole micro-dollars and pico remainders apart, and joined exactly by `spendOf`.
 */
function aggregates() {
  return [
    ...exactSpendSum(sql.ref('spend')),
    sql<number | string>`count(*)`.as('requests'),
    sql<number | string | null>`sum(prompt_tokens)`.as('prompt_tokens'),
    sql<number | string | null>`sum(completion_tokens)`.as('completion_tokens'),
    sql<number | string | null>`sum(unpriced)`.as('unpriced_requests'),
  ] as const;
}

const spendOf = joinSpendSum;

/**
 * Whether the key rollup answers a per-day series: whole UTC days, filtered at most by key,
 * user and model (the console's overview); end users, tags, statuses and request ids need rows.
 */
function dailyFromRollups(f: LogFilter): boolean {
  const whole = (t: number | undefined) => t === undefined || t % DAY_MS === 0;
  return whole(f.from) && whole(f.to) && f.requestId === undefined && f.endUser === undefined && f.tag === undefined && f.status === undefined;
}

/** Whether the rollups hold this report: sessions, clients and billing are in rows only, and end users and tags are not rolled up per key. */
function fromRollups(groupBy: GroupBy, byKey: boolean): boolean {
  if (groupBy === 'key' || groupBy === 'user' || groupBy === 'team' || groupBy === 'model') return true;
  return (groupBy === 'end_user' || groupBy === 'tag') && !byKey;
}

/** Groups of several reports added together (the key alias: the alphabetically last one). */
function mergeGroups(parts: SpendGroup[][]): SpendGroup[] {
  const out = new Map<string | null, SpendGroup>();
  for (const part of parts) {
    for (const g of part) {
      const seen = out.get(g.key);
      if (!seen) {
        out.set(g.key, { ...g });
        continue;
      }
      seen.spend += g.spend;
      seen.requests += g.requests;
      seen.promptTokens += g.promptTokens;
      seen.completionTokens += g.completionTokens;
      seen.unpricedRequests += g.unpricedRequests;
      if ('keyAlias' in g && (seen.keyAlias ?? '') < (g.keyAlias ?? '')) seen.keyAlias = g.keyAlias;
    }
  }
  return [...out.values()];
}

function bySpendThenKey(a: SpendGroup, b: SpendGroup): number {
  if (a.spend !== b.spend) return a.spend > b.spend ? -1 : 1;
  if (a.key === b.key) return 0;
  if (a.key === null) return 1;
  if (b.key === null) return -1;
  return a.key < b.key ? -1 : 1;
}
