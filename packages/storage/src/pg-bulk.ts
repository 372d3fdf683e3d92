import { CompiledQuery, type Kysely } from 'kysely';
import { ident, rollupColumns, rollupConflictSql, type RollupSpec } from './rollup.mjs';

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
