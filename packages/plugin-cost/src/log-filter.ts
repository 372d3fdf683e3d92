import { isPostgres, sql } from '@tollgate/storage';
import type { LedgerStore } from './ledger-store.js';
import type { TimeRange } from './spend-params.js';

type Db = LedgerStore['db'];

/** Filters of /spend/logs; all given ones must hold. `apiKey` is the key's hash. */
export interface LogFilter extends TimeRange {
  apiKey?: string;
  requestId?: string;
  userId?: string;
  endUser?: string;
  tag?: string;
  model?: string;
  /** `ok`: status below 400; `error`: 400 and above (gateway refusals included); a number: that status. */
  status?: 'ok' | 'error' | number;
}

/**
 * The ledger's rows (as `l`) matching `f`. A tag's rows come from tollgate_spend_tags (as
 * `t`), whose (tag, start_time) index yields them in time order: a page of a tag's newest
 * rows reads that page, not every row with the tag. On PostgreSQL each is looked up by its
 * whole key in a LATERAL subquery (OFFSET 0 keeps it one): as a plain join on both columns the
 * planner takes the match for a one-in-a-million chance, hashes the whole ledger, and
 * cannot prune the day partitions per row.
 */
export function filteredLogs(db: Db, f: LogFilter) {
  const logs = db.selectFrom('tollgate_spend_logs as l');
  if (f.tag === undefined) return inRange(rowFilters(logs, f), 'l.start_time', f);
  if (!isPostgres(db as never)) {
    const joined = logs.innerJoin('tollgate_spend_tags as t', (j) => j.onRef('t.request_id', '=', 'l.request_id').onRef('t.start_time', '=', 'l.start_time').on('t.tag', '=', f.tag!));
    return inRange(rowFilters(joined as unknown as typeof logs, f), 't.start_time', f);
  }
  const byTag = db
    .selectFrom('tollgate_spend_tags as t')
    .innerJoinLateral(
      (eb) => rowFilters(eb.selectFrom('tollgate_spend_logs as l').selectAll('l').whereRef('l.request_id', '=', 't.request_id').whereRef('l.start_time', '=', 't.start_time'), f).offset(0).as('l'),
      (j) => j.onTrue(),
    )
    .where('t.tag', '=', f.tag);
  return inRange(byTag as unknown as typeof logs, 't.start_time', f);
}

/** A query builder as these helpers see it: they only add WHERE terms (Kysely types each join apart). */
interface Wheres {
  where(...args: unknown[]): Wheres;
}

/** `f`'s conditions on the row itself (as `l`); failures with the partial index's own condition, spelled the same, so SQLite uses it. */
function rowFilters<Q>(q: Q, f: LogFilter): Q {
  let w = q as unknown as Wheres;
  if (f.apiKey !== undefined) w = w.where(sql.ref('l.api_key'), '=', f.apiKey);
  if (f.requestId !== undefined) w = w.where(sql.ref('l.request_id'), '=', f.requestId);
  if (f.userId !== undefined) w = w.where(sql.ref('l.user_id'), '=', f.userId);
  if (f.endUser !== undefined) w = w.where(sql.ref('l.end_user'), '=', f.endUser);
  if (f.model !== undefined) w = w.where(sql.ref('l.model'), '=', f.model);
  if (f.status === 'ok') w = w.where(sql.ref('l.status'), '<', 400);
  if (f.status === 'error' || (typeof f.status === 'number' && f.status >= 400)) w = w.where(sql`l.status >= ${sql.lit(400)}`);
  if (typeof f.status === 'number') w = w.where(sql.ref('l.status'), '=', f.status);
  return w as unknown as Q;
}

/** `f`'s time range on `time`: the tag's start_time when a tag drives, so its index range is read. */
export function inRange<Q>(q: Q, time: string, f: LogFilter): Q {
  let w = q as unknown as Wheres;
  if (f.from !== undefined) w = w.where(sql.ref(time), '>=', f.from);
  if (f.to !== undefined) w = w.where(sql.ref(time), '<', f.to);
  return w as unknown as Q;
}
