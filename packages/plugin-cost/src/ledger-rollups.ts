import { isPostgres, sql, type KeepWhen, type Kysely, type Migration, type RollupSpec } from '@tollgate/storage';

/** Which ledger rows are stored one by one (rollups count every row either way). */
export type RowsMode = 'all' | 'errors' | 'none';

export const DAY_MS = 86_400_000;
const PICO_PER_MICRO = 1_000_000;

/** A day's number (days since 1970-01-01 UTC) for an epoch-ms instant. */
export const dayOf = (ms: number): number => Math.floor(ms / DAY_MS);

/**
 * The sums every rollup keeps, from the ledger row's columns. Spend is kept as whole
 * micro-dollars and pico remainders apart (as reports sum it), so no rollup overflows a
 * 64-bit integer before $9.2 trillion.
 */
const SUMS = [
  { column: 'requests' },
  { column: 'errors', from: 'status', atLeast: 400 },
  { column: 'unpriced', from: 'unpriced' },
  { column: 'spend_micro', from: 'spend', part: { div: PICO_PER_MICRO } },
  { column: 'spend_rest', from: 'spend', part: { mod: PICO_PER_MICRO } },
  ...['prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens', 'web_search_requests'].map(
    (c) => ({ column: c, from: c }),
  ),
] as const satisfies RollupSpec['add'];
/**
 * The spend budgets leave out (rows marked `budget_exempt`), in the rollups budgets read: the
 * key and end-user ones (migration 011).
 */
const EXEMPT_SUMS = [
  { column: 'exempt_micro', from: 'spend', part: { div: PICO_PER_MICRO }, when: 'budget_exempt' },
  { column: 'exempt_rest', from: 'spend', part: { mod: PICO_PER_MICRO }, when: 'budget_exempt' },
] as const satisfies RollupSpec['add'];
/** What reports read: the per-key and per-model rollups keep only these, so a range of days is fewer pages. */
const REPORT_SUMS = SUMS.filter((s) => ['requests', 'errors', 'unpriced', 'spend_micro', 'spend_rest', 'prompt_tokens', 'completion_tokens'].includes(s.column));
const FIRST_LAST = { min: [{ column: 'first_time', from: 'start_time' }], max: [{ column: 'last_time', from: 'start_time' }] } as const;
const DAY = { column: 'day', from: 'start_time', day: true } as const;

/**
 * Spend per day × key × user × team × model (the key's alias too: a renamed key's rows group
 * apart, and reports show the last alias as they did from rows). End users and tags have
 * their own rollups: crossed with keys, tens of thousands of end users would make a rollup as
 * long as the ledger.
 */
export const KEY_ROLLUP: RollupSpec = {
  table: 'tollgate_spend_daily',
  group: [DAY, ...['api_key', 'key_alias', 'user_id', 'team_id', 'model'].map((c) => ({ column: c, from: c }))],
  add: [...SUMS, ...EXEMPT_SUMS],
  ...FIRST_LAST,
};
export const END_USER_ROLLUP: RollupSpec = { table: 'tollgate_spend_daily_end_users', group: [DAY, { column: 'end_user', from: 'end_user' }], add: [...SUMS, ...EXEMPT_SUMS], ...FIRST_LAST };
/** The rollups that keep EXEMPT_SUMS. */
export const BUDGET_ROLLUPS = [KEY_ROLLUP, END_USER_ROLLUP] as const;
export const TAG_ROLLUP: RollupSpec = { table: 'tollgate_spend_daily_tags', group: [DAY], each: { column: 'tag', from: 'request_tags' }, add: SUMS, ...FIRST_LAST };
/**
 * The key rollup without models: one row per key a day (a key has one alias, user and team),
 * where the key rollup has one per key and model. Reports by key, user and team over a range,
 * and the key totals budgets load at start, read it.
 */
export const PER_KEY_ROLLUP: RollupSpec = {
  table: 'tollgate_spend_daily_keys',
  group: [DAY, ...['api_key', 'key_alias', 'user_id', 'team_id'].map((c) => ({ column: c, from: c }))],
  add: REPORT_SUMS,
  ...FIRST_LAST,
};
/**
 * The per-key rollup in spans of 7 days (counted from 1970-01-01; `day` is a span's first
 * day): a range report by key reads its whole spans here and only the days at its edges from
 * the per-key rollup, a seventh of the rows (users and teams have their own daily rollups);
 * the all-time totals per key read it alone. Filled from the per-key rollup (migration 016,
 * rebuilds), so the two always agree.
 */
export const PER_KEY_WEEK_ROLLUP: RollupSpec = { ...PER_KEY_ROLLUP, table: 'tollgate_spend_weekly_keys', group: [{ ...DAY, days: 7 }, ...PER_KEY_ROLLUP.group.slice(1)] };
/** The first day of the span of `days` days that holds `day`. */
export const spanStart = (day: number, days: number): number => Math.floor(day / days) * days;
/** Days per row of a rollup: 1 for the daily ones, 7 for PER_KEY_WEEK_ROLLUP. */
export const spanDays = (spec: RollupSpec): number => spec.group[0]?.days ?? 1;
/** One row per model a day: reports by model, and the unfiltered per-day series. */
export const PER_MODEL_ROLLUP: RollupSpec = { table: 'tollgate_spend_daily_models', group: [DAY, { column: 'model', from: 'model' }], add: REPORT_SUMS, ...FIRST_LAST };
/**
 * One row per user a day, and one per team (migration 015): the console's top users and teams
 * over a range read a few hundred rows a day instead of one per key.
 */
export const PER_USER_ROLLUP: RollupSpec = { table: 'tollgate_spend_daily_users', group: [DAY, { column: 'user_id', from: 'user_id' }], add: REPORT_SUMS, ...FIRST_LAST };
export const PER_TEAM_ROLLUP: RollupSpec = { table: 'tollgate_spend_daily_teams', group: [DAY, { column: 'team_id', from: 'team_id' }], add: REPORT_SUMS, ...FIRST_LAST };
/**
 * Every rollup, in the order the writer updates them within a write's transaction: first those
 * of one key's rows, then those whose rows many keys share (users, teams, tags, models). When a
 * write is split by key over transactions that run at once (`ledger.writeConnections`), a
 * transaction waits for another only at a rollup row both update, and holds such rows only for
 * the end of its work. PER_KEY_WEEK_ROLLUP after PER_KEY_ROLLUP: rebuilds and retention's fold
 * fill it from that one.
 */
export const ROLLUPS = [KEY_ROLLUP, PER_KEY_ROLLUP, PER_KEY_WEEK_ROLLUP, END_USER_ROLLUP, PER_USER_ROLLUP, PER_TEAM_ROLLUP, TAG_ROLLUP, PER_MODEL_ROLLUP] as const;
/** The rollups of migration 008 (later ones are made, and filled, by their own migrations). */
const FIRST_ROLLUPS = [KEY_ROLLUP, END_USER_ROLLUP, TAG_ROLLUP] as const;

/**
 * Rows kept with `rows: errors`: failures, aborts and unpriced requests (which `spend
 * reprice` can price later). Every mode keeps the rows of Message Batches (a create call and
 * its results carry a batch_id): settling a batch reads them.
 */
export function keepWhen(mode: RowsMode): KeepWhen | undefined {
  if (mode === 'all') return undefined;
  const batches = { column: 'batch_id', notNull: true } as const;
  if (mode === 'none') return [batches];
  return [{ column: 'status', atLeast: 400 }, { column: 'aborted', atLeast: 1 }, { column: 'unpriced', atLeast: 1 }, batches];
}

export const rollupMigrations: Record<string, Migration> = {
  '008_rollups': {
    // Grouping columns hold '' for "none" (a primary key column cannot be null everywhere);
    // sums are bigint, first/last epoch ms. The indexes serve the lookups that must not scan
    // a day range: one key's, one end user's, one tag's totals.
    async up(db: Kysely<any>) {
      for (const spec of FIRST_ROLLUPS) await createRollupTable(db, withoutExempt(spec)); // the exempt sums come in 011
      await db.schema.createIndex('tollgate_spend_daily_key').on('tollgate_spend_daily').columns(['api_key', 'day']).execute();
      await db.schema.createIndex('tollgate_spend_daily_end_user').on('tollgate_spend_daily_end_users').columns(['end_user', 'day']).execute();
      await db.schema.createIndex('tollgate_spend_daily_tag').on('tollgate_spend_daily_tags').columns(['tag', 'day']).execute();
      // A ledger from before rollups: its rows, summed (budget_exempt and its sums come in 011).
      await rebuildRollups(db, undefined, FIRST_ROLLUPS.map(withoutExempt));
    },
  },
  '012_per_key_and_model_rollups': {
    // Reports over a range read every rollup row of its days: a row per key (and one per
    // model) instead of one per key and model. SQLite keeps them in primary-key order (without
    // rowid), so a range of days is one stretch of the table. On PostgreSQL every rollup
    // leaves room in its pages, so the writer's many updates of a day's rows stay in their page
    // (HOT: no index entry per update); that applies to pages written from now on.
    async up(db: Kysely<any>) {
      for (const spec of [PER_KEY_ROLLUP, PER_MODEL_ROLLUP]) await createRollupTable(db, spec, { clustered: true });
      if (isPostgres(db)) {
        for (const table of [...FIRST_ROLLUPS.map((r) => r.table), 'tollgate_key_spend']) {
          await sql`alter table ${sql.table(table)} set (fillfactor = ${sql.lit(ROLLUP_FILLFACTOR)})`.execute(db);
        }
      }
      for (const spec of [PER_KEY_ROLLUP, PER_MODEL_ROLLUP]) await fillFromRollup(db, spec, KEY_ROLLUP);
    },
  },
};

/**
 * Fills a new rollup by summing an older one that has its groups and sums, not the rows: the
 * older one holds every request (whatever ledger.rows keeps, and days whose rows retention
 * dropped or that were folded into day 0).
 */
export async function fillFromRollup(db: Kysely<any>, spec: RollupSpec, source: RollupSpec): Promise<void> {
  const keys = spec.group.map((g) => sql.ref(g.column));
  const sums = spec.add.map((s) => sql`sum(${sql.ref(s.column)})`);
  await sql`insert into ${sql.table(spec.table)} (${sql.join([...keys, ...spec.add.map((s) => sql.ref(s.column)), sql.ref('first_time'), sql.ref('last_time')])})
    select ${sql.join([...keys, ...sums, sql`min(first_time)`, sql`max(last_time)`])} from ${sql.table(source.table)} group by ${sql.join(keys)}`.execute(db);
}

/** Free space PostgreSQL leaves in each page of a rollup table, in per cent of it used. */
const ROLLUP_FILLFACTOR = 70;

export async function createRollupTable(db: Kysely<any>, spec: RollupSpec, o: { clustered?: boolean } = {}): Promise<void> {
  const keys = [...spec.group.map((g) => g.column), ...(spec.each ? [spec.each.column] : [])];
  let t = db.schema.createTable(spec.table);
  for (const k of keys) t = t.addColumn(k, k === 'day' ? 'integer' : 'text', (c) => (k === 'day' ? c.notNull() : c.notNull().defaultTo('')));
  for (const s of spec.add) t = t.addColumn(s.column, 'bigint', (c) => c.notNull().defaultTo(0));
  t = t.addColumn('first_time', 'bigint', (c) => c.notNull()).addColumn('last_time', 'bigint', (c) => c.notNull());
  t = t.addPrimaryKeyConstraint(`${spec.table}_pk`, keys as never);
  if (o.clustered) t = t.modifyEnd(isPostgres(db) ? sql`with (fillfactor = ${sql.lit(ROLLUP_FILLFACTOR)})` : sql`without rowid`);
  await t.execute();
}

/**
 * The statements that recompute the rollups of every day from `fromDay` on (all days when
 * undefined) out of the ledger's rows: the same sums the writer keeps, done by the database.
 * Run them in one transaction (`rebuildRollups`, or the SQLite writer thread).
 */
/** A rollup as migrations before 011 made it: without the budget-exempt sums. */
const withoutExempt = (spec: RollupSpec): RollupSpec => ({ ...spec, add: spec.add.filter((a) => !('when' in a)) });

export function rebuildStatements(fromDay?: number, specs: readonly RollupSpec[] = ROLLUPS) {
  const from = fromDay === undefined ? sql`` : sql`where l.start_time >= ${fromDay * DAY_MS}`;
  const dayCut = fromDay === undefined ? sql`` : sql`where day >= ${fromDay}`;
  const day = sql`l.start_time / ${sql.lit(DAY_MS)}`;
  // The writer's sums (see RollupSpec['add']), in SQL.
  const sums = (spec: RollupSpec) =>
    sql.join(
      [
        ...spec.add.map((a) => {
          if (a.from === undefined) return sql`count(*)`;
          const col = sql`l.${sql.ref(a.from)}`;
          const v = a.when === undefined ? col : sql`case when l.${sql.ref(a.when)} >= 1 then ${col} else 0 end`;
          if (a.atLeast !== undefined) return sql`sum(case when ${v} >= ${sql.lit(a.atLeast)} then 1 else 0 end)`;
          if (a.part) return 'div' in a.part ? sql`sum(${v} / ${sql.lit(a.part.div)})` : sql`sum(${v} % ${sql.lit(a.part.mod)})`;
          return sql`sum(${v})`;
        }),
        sql`min(l.start_time)`,
        sql`max(l.start_time)`,
      ],
      sql`, `,
    );
  const cols = (spec: RollupSpec) => sql.join([...spec.group.map((g) => sql.ref(g.column)), ...(spec.each ? [sql.ref(spec.each.column)] : []), ...spec.add.map((s) => sql.ref(s.column)), sql.ref('first_time'), sql.ref('last_time')], sql`, `);
  // Rows in day order: a range of days is then a stretch of each table's pages on
  // PostgreSQL too (as the writer, which adds each day's rows after the last, leaves them).
  const fill = (spec: RollupSpec) => {
    if (spec.each) {
      return sql`insert into ${sql.table(spec.table)} (${cols(spec)})
        select ${day}, t.tag, ${sums(spec)} from tollgate_spend_tags t join tollgate_spend_logs l on l.request_id = t.request_id ${from} group by ${day}, t.tag order by 1`;
    }
    const dims = sql.join(spec.group.slice(1).map((g) => sql`coalesce(l.${sql.ref(g.from)}, '')`), sql`, `);
    return sql`insert into ${sql.table(spec.table)} (${cols(spec)})
      select ${day}, ${dims}, ${sums(spec)} from tollgate_spend_logs l ${from} group by ${day}, ${dims} order by 1`;
  };
  const deletes = specs.map((spec) => (spanDays(spec) === 1 ? sql`delete from ${sql.table(spec.table)} ${dayCut}` : sql`delete from ${sql.table(spec.table)} where day >= ${spanStart(fromDay ?? 0, spanDays(spec))}`));
  return [...deletes, ...specs.map((spec) => (spanDays(spec) === 1 ? fill(spec) : spanFill(spec, PER_KEY_ROLLUP, spanStart(fromDay ?? 0, spanDays(spec)))))];
}

/**
 * Fills a rollup of spans of days (PER_KEY_WEEK_ROLLUP) from the spans' days in the daily
 * rollup of the same groups, from the span starting `fromDay` on.
 */
export function spanFill(spec: RollupSpec, daily: RollupSpec, fromDay: number, toDay?: number) {
  const days = spanDays(spec);
  const keys = spec.group.slice(1).map((g) => sql.ref(g.column));
  const sums = spec.add.map((a) => sql`sum(${sql.ref(a.column)})`);
  const cols = [sql.ref('day'), ...keys, ...spec.add.map((a) => sql.ref(a.column)), sql.ref('first_time'), sql.ref('last_time')];
  const span = sql`(day / ${sql.lit(days)}) * ${sql.lit(days)}`;
  return sql`insert into ${sql.table(spec.table)} (${sql.join(cols)})
    select ${sql.join([span, ...keys, ...sums, sql`min(first_time)`, sql`max(last_time)`])} from ${sql.table(daily.table)} where day >= ${fromDay} ${toDay === undefined ? sql`` : sql`and day < ${toDay}`} group by ${sql.join([span, ...keys])} order by 1`;
}

/**
 * After retention folded the daily rollup's days before `cutoffDay` into day 0: the spans up
 * to the one holding the cutoff, summed again from what the daily rollup now holds, so each span
 * is still the sum of its days (a span's days at a range's edge are read from the daily
 * rollup). Returns the span rows that were there.
 */
export async function foldSpans(tx: Kysely<any>, spec: RollupSpec, daily: RollupSpec, cutoffDay: number): Promise<number> {
  const end = spanStart(cutoffDay, spanDays(spec)) + spanDays(spec);
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(spec.table)} where day < ${end}`.execute(tx);
  await sql`delete from ${sql.table(spec.table)} where day < ${end}`.execute(tx);
  await spanFill(spec, daily, 0, end).execute(tx);
  return Number(rows[0]?.n ?? 0);
}

/** Recomputes the rollups from the rows in one transaction (see rebuildStatements), on this connection. */
export async function rebuildRollups(db: Kysely<any>, fromDay?: number, specs: readonly RollupSpec[] = ROLLUPS): Promise<void> {
  // A migration's backfill already runs in the migration's transaction.
  const run = async (tx: Kysely<any>) => {
    for (const statement of rebuildStatements(fromDay, specs)) await statement.execute(tx);
  };
  await (db.isTransaction ? run(db) : db.transaction().execute(run));
}

/** What the rollups need of a ledger row that was unpriced and now has a price. */
export interface RepricedRow {
  start_time: number | string;
  api_key: string | null;
  key_alias: string | null;
  user_id: string | null;
  team_id: string | null;
  model: string | null;
  end_user: string | null;
  request_tags: string;
  budget_exempt: number | boolean;
}

/**
 * Moves a repriced row's rollups by `delta` pico-dollars (and out of the unpriced count when it
 * was unpriced), in the caller's transaction with the row's own update, so rollups and rows
 * agree. The micro/rest split of a negative delta (an estimate repriced lower) is exact too:
 * both parts truncate toward zero and add back to the delta.
 */
export async function rollupRepriced(tx: Kysely<any>, r: RepricedRow, delta: bigint, wasUnpriced: boolean): Promise<void> {
  const day = dayOf(Number(r.start_time));
  const set = {
    unpriced: sql`unpriced - ${wasUnpriced ? 1 : 0}`,
    spend_micro: sql`spend_micro + ${(delta / BigInt(PICO_PER_MICRO)).toString()}`,
    spend_rest: sql`spend_rest + ${(delta % BigInt(PICO_PER_MICRO)).toString()}`,
  };
  // A budget-exempt row's spend is the budget rollups' exempt spend too: it moves with it.
  const exempt = Number(r.budget_exempt) >= 1 ? { exempt_micro: sql`exempt_micro + ${(delta / BigInt(PICO_PER_MICRO)).toString()}`, exempt_rest: sql`exempt_rest + ${(delta % BigInt(PICO_PER_MICRO)).toString()}` } : {};
  for (const spec of ROLLUPS) {
    if (spec.each) continue;
    const budget = (BUDGET_ROLLUPS as readonly RollupSpec[]).includes(spec);
    let q = tx.updateTable(spec.table).set(budget ? { ...set, ...exempt } : set).where('day', '=', spanStart(day, spanDays(spec)));
    for (const g of spec.group.slice(1)) q = q.where(g.column, '=', r[g.from as keyof RepricedRow] ?? '');
    await q.execute();
  }
  const tags = [...new Set(JSON.parse(r.request_tags) as string[])];
  if (tags.length > 0) await tx.updateTable(TAG_ROLLUP.table).set(set).where('day', '=', day).where('tag', 'in', tags).execute();
}
