import { sql, type KeepWhen, type Kysely, type Migration, type RollupSpec } from '@tollgate/storage';

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
const FIRST_LAST = { min: [{ column: 'first_time', from: 'start_time' }], max: [{ column: 'last_time', from: 'start_time' }] } as const;
const DAY = { column: 'day', from: 'start_time', day: true } as const;

/**
 * Spend per day × key × user × team × model (the key's alias too: a renamed key's rows group
 * apart, and reports show the last alias as they did from rows), and the part of it budgets
 * leave out. End users and tags have their own rollups: crossed with keys, tens of thousands
 * of end users would make a rollup as long as the ledger.
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
export const ROLLUPS = [KEY_ROLLUP, END_USER_ROLLUP, TAG_ROLLUP] as const;

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
      for (const spec of ROLLUPS) {
        const keys = [...spec.group.map((g) => g.column), ...(spec.each ? [spec.each.column] : [])];
        let t = db.schema.createTable(spec.table);
        for (const k of keys) t = t.addColumn(k, k === 'day' ? 'integer' : 'text', (c) => (k === 'day' ? c.notNull() : c.notNull().defaultTo('')));
        for (const s of SUMS) t = t.addColumn(s.column, 'bigint', (c) => c.notNull().defaultTo(0));
        t = t.addColumn('first_time', 'bigint', (c) => c.notNull()).addColumn('last_time', 'bigint', (c) => c.notNull());
        await t.addPrimaryKeyConstraint(`${spec.table}_pk`, keys as never).execute();
      }
      await db.schema.createIndex('tollgate_spend_daily_key').on('tollgate_spend_daily').columns(['api_key', 'day']).execute();
      await db.schema.createIndex('tollgate_spend_daily_end_user').on('tollgate_spend_daily_end_users').columns(['end_user', 'day']).execute();
      await db.schema.createIndex('tollgate_spend_daily_tag').on('tollgate_spend_daily_tags').columns(['tag', 'day']).execute();
      // A ledger from before rollups: its rows, summed (budget_exempt and its sums come in 011).
      await rebuildRollups(db, undefined, { exempt: false });
    },
  },
};

/**
 * The statements that recompute the rollups of every day from `fromDay` on (all days when
 * undefined) out of the ledger's rows: the same sums the writer keeps, done by the database.
 * Run them in one transaction (`rebuildRollups`, or the SQLite writer thread). `exempt: false`
 * leaves out the budget-exempt sums (a ledger before migration 011).
 */
export function rebuildStatements(fromDay?: number, { exempt = true }: { exempt?: boolean } = {}) {
  const from = fromDay === undefined ? sql`` : sql`where l.start_time >= ${fromDay * DAY_MS}`;
  const dayCut = fromDay === undefined ? sql`` : sql`where day >= ${fromDay}`;
  const day = sql`l.start_time / ${sql.lit(DAY_MS)}`;
  const sums = sql.join(
    [
      sql`count(*)`,
      sql`sum(case when l.status >= 400 then 1 else 0 end)`,
      sql`sum(l.unpriced)`,
      sql`sum(l.spend / ${sql.lit(PICO_PER_MICRO)})`,
      sql`sum(l.spend % ${sql.lit(PICO_PER_MICRO)})`,
      ...SUMS.slice(5).map((s) => sql`sum(l.${sql.ref((s as { from: string }).from)})`),
      sql`min(l.start_time)`,
      sql`max(l.start_time)`,
    ],
    sql`, `,
  );
  const cols = (spec: RollupSpec, extra: readonly { column: string }[] = []) =>
    sql.join([...spec.group.map((g) => sql.ref(g.column)), ...(spec.each ? [sql.ref(spec.each.column)] : []), ...SUMS.map((s) => sql.ref(s.column)), sql.ref('first_time'), sql.ref('last_time'), ...extra.map((s) => sql.ref(s.column))], sql`, `);
  const exempted = (part: string) => sql`sum(case when l.budget_exempt >= 1 then l.spend ${sql.raw(part)} ${sql.lit(PICO_PER_MICRO)} else 0 end)`;
  const budgetSums = exempt ? sql.join([sums, exempted('/'), exempted('%')], sql`, `) : sums;
  const budgetCols = exempt ? EXEMPT_SUMS : [];
  const keyDims = sql.join(['api_key', 'key_alias', 'user_id', 'team_id', 'model'].map((n) => sql`coalesce(l.${sql.ref(n)}, '')`), sql`, `);
  return [
    ...ROLLUPS.map((spec) => sql`delete from ${sql.table(spec.table)} ${dayCut}`),
    sql`insert into ${sql.table(KEY_ROLLUP.table)} (${cols(KEY_ROLLUP, budgetCols)})
      select ${day}, ${keyDims}, ${budgetSums} from tollgate_spend_logs l ${from} group by ${day}, ${keyDims}`,
    sql`insert into ${sql.table(END_USER_ROLLUP.table)} (${cols(END_USER_ROLLUP, budgetCols)})
      select ${day}, coalesce(l.end_user, ''), ${budgetSums} from tollgate_spend_logs l ${from} group by ${day}, coalesce(l.end_user, '')`,
    sql`insert into ${sql.table(TAG_ROLLUP.table)} (${cols(TAG_ROLLUP)})
      select ${day}, t.tag, ${sums} from tollgate_spend_tags t join tollgate_spend_logs l on l.request_id = t.request_id ${from} group by ${day}, t.tag`,
  ];
}

/** Recomputes the rollups from the rows in one transaction (see rebuildStatements), on this connection. */
export async function rebuildRollups(db: Kysely<any>, fromDay?: number, opts?: { exempt?: boolean }): Promise<void> {
  // A migration's backfill already runs in the migration's transaction.
  const run = async (tx: Kysely<any>) => {
    for (const statement of rebuildStatements(fromDay, opts)) await statement.execute(tx);
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
  const v = (x: string | null) => x ?? '';
  // A budget-exempt row's spend is the budget rollups' exempt spend too: it moves with it.
  const exempt = Number(r.budget_exempt) >= 1 ? { exempt_micro: sql`exempt_micro + ${(delta / BigInt(PICO_PER_MICRO)).toString()}`, exempt_rest: sql`exempt_rest + ${(delta % BigInt(PICO_PER_MICRO)).toString()}` } : {};
  await tx
    .updateTable(KEY_ROLLUP.table)
    .set({ ...set, ...exempt })
    .where('day', '=', day)
    .where('api_key', '=', v(r.api_key))
    .where('key_alias', '=', v(r.key_alias))
    .where('user_id', '=', v(r.user_id))
    .where('team_id', '=', v(r.team_id))
    .where('model', '=', v(r.model))
    .execute();
  await tx.updateTable(END_USER_ROLLUP.table).set({ ...set, ...exempt }).where('day', '=', day).where('end_user', '=', v(r.end_user)).execute();
  const tags = [...new Set(JSON.parse(r.request_tags) as string[])];
  if (tags.length > 0) await tx.updateTable(TAG_ROLLUP.table).set(set).where('day', '=', day).where('tag', 'in', tags).execute();
}
