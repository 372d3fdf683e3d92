import { CompiledQuery, type Kysely } from 'kysely';
import { DAY_MS, ident, rollupColumns, rollupConflictSql, type RollupSpec } from './rollup.mjs';

/** Rows one statement takes: a bound on the arrays' size, far above the writer's batches. */
const ROWS_PER_STATEMENT = 10_000;

/**
 * PostgreSQL bulk writes of the in-place writer: one `insert … select * from unnest($1::type[],
 * …)` per table and batch, one array parameter per column. Its text is short and the same
 * whatever the row count, where a multi-row VALUES of a 500-row ledger batch bound 20,000
 * parameters and was parsed and planned at that size every time. The arrays' element types
 * are the columns' own, read from the catalog once per table.
 */
export class PgBulk {
  private readonly types = new Map<string, Map<string, string>>();

  /**
   * Inserts rows (values in `columns` order); with `returning`, gives back the first-column
   * values of the rows really inserted (not skipped by `onConflictDoNothing`).
   */
  async insert(
    tx: Kysely<any>,
    o: { table: string; columns: readonly string[]; rows: readonly (readonly unknown[])[]; onConflictDoNothing?: readonly string[]; returning?: boolean },
  ): Promise<Set<unknown>> {
    const inserted = new Set<unknown>();
    if (o.rows.length === 0) return inserted;
    const conflict = o.onConflictDoNothing ? ` on conflict (${o.onConflictDoNothing.map(ident).join(', ')}) do nothing` : '';
    const returning = o.returning ? ` returning ${ident(o.columns[0]!)}` : '';
    const text = await this.insertSql(tx, o.table, o.columns, conflict + returning);
    for (let i = 0; i < o.rows.length; i += ROWS_PER_STATEMENT) {
      const result = await tx.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text, columnArrays(o.rows.slice(i, i + ROWS_PER_STATEMENT), o.columns.length)));
      if (o.returning) for (const r of result.rows) inserted.add(r[o.columns[0]!]);
    }
    return inserted;
  }

  /**
   * Inserts the rows whose `keep` is true and adds every row counted (each one not kept, and
   * each kept one really inserted: not skipped by `onConflictDoNothing`) into the rollups, in
   * one statement: the rows go in as column arrays once, and the database sums the groups
   * (`rollupSql`).
   */
  async insertWithRollups(
    tx: Kysely<any>,
    o: { table: string; columns: readonly string[]; rows: readonly (readonly unknown[])[]; keep: readonly boolean[]; onConflictDoNothing?: readonly string[]; rollups: readonly RollupSpec[] },
  ): Promise<void> {
    if (o.rows.length === 0) return;
    const types = await this.columnTypes(tx, o.table, o.columns);
    // A rollup missing a column fails here, by name (cached: no query per batch).
    for (const spec of o.rollups) await this.columnTypes(tx, spec.table, rollupColumns(spec));
    const text = rollupStatement(o, types);
    for (let i = 0; i < o.rows.length; i += ROWS_PER_STATEMENT) {
      const rows = o.rows.slice(i, i + ROWS_PER_STATEMENT);
      const params = [...columnArrays(rows, o.columns.length), `{${o.keep.slice(i, i + ROWS_PER_STATEMENT).map((k) => (k ? 't' : 'f')).join(',')}}`];
      await tx.executeQuery(CompiledQuery.raw(text, params));
    }
  }

  /** Adds rollup rows (values in `rollupColumns(spec)` order, one per group) into their table. */
  async upsertRollup(tx: Kysely<any>, spec: RollupSpec, rows: readonly (readonly unknown[])[]): Promise<void> {
    if (rows.length === 0) return;
    const columns = rollupColumns(spec);
    const text = await this.insertSql(tx, spec.table, columns, ` ${rollupConflictSql(spec, 'postgres')}`);
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      await tx.executeQuery(CompiledQuery.raw(text, columnArrays(rows.slice(i, i + ROWS_PER_STATEMENT), columns.length)));
    }
  }

  private async insertSql(tx: Kysely<any>, table: string, columns: readonly string[], tail: string): Promise<string> {
    const types = await this.columnTypes(tx, table, columns);
    const arrays = types.map((type, i) => `$${i + 1}::${type}[]`).join(', ');
    return `insert into ${ident(table)} (${columns.map(ident).join(', ')}) select * from unnest(${arrays})${tail}`;
  }

  /** The columns' types (`format_type`: `bigint`, `character varying(200)`, …), read again when a column is new. */
  private async columnTypes(tx: Kysely<any>, table: string, columns: readonly string[]): Promise<string[]> {
    let known = this.types.get(table);
    if (!known || columns.some((c) => !known!.has(c))) {
      const { rows } = await tx.executeQuery<{ name: string; type: string }>(
        CompiledQuery.raw(
          'select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = to_regclass(quote_ident($1)) and attnum > 0 and not attisdropped',
          [table],
        ),
      );
      known = new Map(rows.map((r) => [r.name, r.type]));
      this.types.set(table, known);
    }
    return columns.map((c) => {
      const type = known!.get(c);
      if (type === undefined) throw new Error(`table ${table} has no column ${c}`);
      return type;
    });
  }
}

/**
 * `with input as (unnest of the columns and a keep flag), ins as (insert the kept rows … returning
 * the first column), counted as (the rows to count), r0 as (insert into rollup 0 select the
 * groups' sums from counted … on conflict do update), … select count(*) from ins`. Every
 * data-modifying WITH runs to completion whether or not the last select reads it; the rollups
 * are updated in the order of `o.rollups`. Sums as `rebuildStatements` makes them from rows
 * (integer division and remainder), null grouping values as ''; each rollup's groups go in
 * group order, so concurrent writers lock rollup rows in one order (no deadlock).
 */
function rollupStatement(o: { table: string; columns: readonly string[]; onConflictDoNothing?: readonly string[]; rollups: readonly RollupSpec[] }, types: readonly string[]): string {
  const cols = o.columns.map(ident);
  const arrays = [...types.map((type, i) => `$${i + 1}::${type}[]`), `$${types.length + 1}::boolean[]`].join(', ');
  const conflict = o.onConflictDoNothing ? ` on conflict (${o.onConflictDoNothing.map(ident).join(', ')}) do nothing` : '';
  const id = cols[0]!;
  const parts = [
    `input as (select * from unnest(${arrays}) as u(${[...cols, '"tg_keep"'].join(', ')}))`,
    `ins as (insert into ${ident(o.table)} (${cols.join(', ')}) select ${cols.join(', ')} from input where "tg_keep"${conflict} returning ${id})`,
    `counted as materialized (select * from input where not "tg_keep" or ${id} in (select ${id} from ins))`,
    // PostgreSQL runs the data-modifying WITH statements nothing reads last-written first
    // (nodeModifyTable.c adds each to es_auxmodifytables with lcons): written in reverse, the
    // rollups are updated in the order given.
    ...o.rollups.map((spec, i) => `r${i} as (${rollupSql(spec, 'counted')})`).reverse(),
  ];
  return `with ${parts.join(',\n')}\nselect count(*) from ins`;
}

/** `insert into <rollup> select <groups>, <sums> from <source> group by … order by … on conflict … do update`. */
function rollupSql(spec: RollupSpec, source: string): string {
  const groups = spec.group.map((g) => {
    if (!g.day) return `coalesce(${ident(g.from)}::text, '')`;
    const day = `(${ident(g.from)} / ${DAY_MS})`;
    return g.days === undefined || g.days === 1 ? day : `(${day} / ${g.days}) * ${g.days}`;
  });
  let from = source;
  if (spec.each) {
    from = `${source} cross join lateral (select distinct e from jsonb_array_elements_text(${ident(spec.each.from)}::jsonb) as j(e)) as each_(e)`;
    groups.push('each_.e');
  }
  const sums = spec.add.map((a) => {
    if (a.from === undefined) return a.when === undefined ? 'count(*)' : `sum(case when ${ident(a.when)} >= 1 then 1 else 0 end)`;
    let v = `coalesce(${ident(a.from)}, 0)`;
    if (a.atLeast !== undefined) v = `case when ${v} >= ${a.atLeast} then 1 else 0 end`;
    else if (a.part) v = 'div' in a.part ? `${v} / ${a.part.div}` : `${v} % ${a.part.mod}`;
    return `sum(${a.when === undefined ? v : `case when ${ident(a.when)} >= 1 then ${v} else 0 end`})`;
  });
  const minMax = [...(spec.min ?? []).map((m) => `min(${ident(m.from)})`), ...(spec.max ?? []).map((m) => `max(${ident(m.from)})`)];
  const order = groups.map((g, i) => (spec.group[i]?.day ? g : `${g} collate "C"`));
  return `insert into ${ident(spec.table)} (${rollupColumns(spec).map(ident).join(', ')})
    select ${[...groups, ...sums, ...minMax].join(', ')} from ${from} group by ${groups.join(', ')} order by ${order.join(', ')} ${rollupConflictSql(spec, 'postgres')}`;
}

/**
 * Row arrays turned into one PostgreSQL array literal per column (`{1,NULL,"a\\"b"}`), built
 * here in one pass: node-postgres' own array encoding escapes every element with two regular
 * expressions and took as long as the server's insert.
 */
function columnArrays(rows: readonly (readonly unknown[])[], width: number): string[] {
  const out: string[] = [];
  for (let j = 0; j < width; j++) {
    let text = '{';
    for (let r = 0; r < rows.length; r++) {
      if (r > 0) text += ',';
      text += element(rows[r]![j]);
    }
    out.push(`${text}}`);
  }
  return out;
}

const NEEDS_ESCAPE = /["\\]/;

function element(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  const text = String(v);
  return `"${NEEDS_ESCAPE.test(text) ? text.replace(/["\\]/g, '\\$&') : text}"`;
}
