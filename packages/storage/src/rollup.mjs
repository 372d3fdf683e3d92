// Rollups kept by the writer in the same transaction as the rows they sum. Plain JavaScript:
// the SQLite writer thread loads it as is (like sqlite-worker.mjs), and background-writer.ts
// uses it for PostgreSQL.

/**
 * A rollup table the writer keeps from the rows of an insert (see BulkInsert.rollups).
 * @typedef {object} RollupSpec
 * @property {string} table
 * @property {readonly { column: string; from: string; day?: true }[]} group Grouping columns (the table's unique key, with `each`), each from a column of the insert; `day` turns epoch ms into the UTC day number.
 * @property {{ column: string; from: string }} [each] One rollup row per distinct element of this column's JSON array (tags), under `column`, besides `group`.
 * @property {readonly { column: string; from?: string; atLeast?: number; part?: { div: number } | { mod: number } }[]} add Added-up columns: a column's value (or its whole quotient or remainder by a number: `part`), 1 per row (no `from`), or 1 per row whose `from` is at least `atLeast`.
 * @property {readonly { column: string; from: string }[]} [min] The smallest value of a column, kept.
 * @property {readonly { column: string; from: string }[]} [max] The largest value of a column, kept.
 */

/**
 * Rows stored: none, or those matching any of the tests (a column at least a number, or not null).
 * @typedef {readonly ({ column: string; atLeast: number } | { column: string; notNull: true })[] | 'none'} KeepWhen
 */

const DAY_MS = 86_400_000;

/**
 * Which rows of an insert are stored: all (no `keepWhen`), none, or those where any listed
 * column is at least its bound.
 */
/**
 * @param {readonly string[]} columns
 * @param {KeepWhen | undefined} keepWhen
 * @returns {(row: readonly unknown[]) => boolean}
 */
export function keeper(columns, keepWhen) {
  if (keepWhen === undefined) return () => true;
  if (keepWhen === 'none') return () => false;
  const tests = keepWhen.map((k) => {
    const i = indexOf(columns, k.column);
    return 'notNull' in k ? (row) => row[i] !== null && row[i] !== undefined : (row) => Number(row[i]) >= k.atLeast;
  });
  return (row) => tests.some((test) => test(row));
}

/**
 * Adds rows up into one rollup table's rows, grouped as the spec says. Null grouping values
 * are stored as '' (a primary key column cannot hold null in every engine); numbers are added
 * as numbers, decimal strings (pico-dollars past 2^53) exactly as BigInt.
 */
/**
 * @param {RollupSpec} spec
 * @param {readonly string[]} columns
 * @returns {{ add(row: readonly unknown[]): void; rows(): unknown[][] }}
 */
export function rollupAccumulator(spec, columns) {
  const group = spec.group.map((g) => ({ i: indexOf(columns, g.from), day: g.day === true }));
  const each = spec.each ? indexOf(columns, spec.each.from) : -1;
  const add = spec.add.map((a) => ({ i: a.from === undefined ? -1 : indexOf(columns, a.from), atLeast: a.atLeast, part: a.part }));
  const min = (spec.min ?? []).map((m) => indexOf(columns, m.from));
  const max = (spec.max ?? []).map((m) => indexOf(columns, m.from));
  const sums = new Map();

  const addTo = (key, keyValues, row) => {
    let acc = sums.get(key);
    if (!acc) {
      acc = { keys: keyValues, add: add.map(() => 0), min: min.map(() => Infinity), max: max.map(() => -Infinity) };
      sums.set(key, acc);
    }
    for (let j = 0; j < add.length; j++) {
      const a = add[j];
      let v;
      if (a.i === -1) v = 1;
      else if (a.atLeast !== undefined) v = Number(row[a.i]) >= a.atLeast ? 1 : 0;
      else v = row[a.i] ?? 0;
      if (a.part) v = part(v, a.part);
      acc.add[j] = plus(acc.add[j], v);
    }
    for (let j = 0; j < min.length; j++) acc.min[j] = Math.min(acc.min[j], Number(row[min[j]]));
    for (let j = 0; j < max.length; j++) acc.max[j] = Math.max(acc.max[j], Number(row[max[j]]));
  };

  return {
    add(row) {
      const keyValues = group.map((g) => {
        const v = row[g.i];
        return g.day ? Math.floor(Number(v) / DAY_MS) : v === null || v === undefined ? '' : String(v);
      });
      const key = JSON.stringify(keyValues);
      if (each === -1) return addTo(key, keyValues, row);
      const raw = row[each];
      const list = typeof raw === 'string' ? JSON.parse(raw) : (raw ?? []);
      for (const item of new Set(list)) addTo(`${key}\u0000${item}`, [...keyValues, String(item)], row);
    },
    /**
     * The rollup rows: values in `rollupColumns(spec)` order (sums as numbers or bigints),
     * sorted by group, so concurrent writers lock rollup rows in one order (no deadlock).
     */
    rows() {
      return [...sums.entries()]
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .map(([, acc]) => [...acc.keys, ...acc.add, ...acc.min, ...acc.max]);
    },
  };
}

/** The rollup table's columns in the order `rows()` gives their values. */
/**
 * A value's whole quotient or remainder by a number: as numbers while exact (a pico-dollar
 * spend below 2^53, $9,007), else as BigInt.
 * @param {unknown} v
 * @param {{ div: number } | { mod: number }} p
 */
function part(v, p) {
  const n = Number(v);
  if (Number.isSafeInteger(n)) return 'div' in p ? Math.floor(n / p.div) : n % p.mod;
  return 'div' in p ? BigInt(/** @type {any} */ (v)) / BigInt(p.div) : BigInt(/** @type {any} */ (v)) % BigInt(p.mod);
}

/**
 * An exact sum: numbers while it stays below 2^53, BigInt past that (or for decimal strings
 * that are not safe integers).
 * @param {number | bigint} a
 * @param {unknown} v
 * @returns {number | bigint}
 */
function plus(a, v) {
  if (typeof a === 'number' && typeof v === 'number') {
    const sum = a + v;
    if (Number.isSafeInteger(sum)) return sum;
  }
  if (typeof v === 'string' && typeof a === 'number') {
    const n = Number(v);
    if (Number.isSafeInteger(n) && Number.isSafeInteger(a + n)) return a + n;
  }
  return BigInt(a) + BigInt(/** @type {any} */ (v));
}

/**
 * @param {RollupSpec} spec
 * @returns {string[]}
 */
export function rollupColumns(spec) {
  return [
    ...spec.group.map((g) => g.column),
    ...(spec.each ? [spec.each.column] : []),
    ...spec.add.map((a) => a.column),
    ...(spec.min ?? []).map((m) => m.column),
    ...(spec.max ?? []).map((m) => m.column),
  ];
}

/**
 * `insert … values (…) × rowCount on conflict (group) do update` adding each sum and keeping the least / greatest
 * of min / max columns. `least`/`greatest` for PostgreSQL; SQLite's two-argument min/max.
 */
/**
 * @param {RollupSpec} spec
 * @param {'sqlite' | 'postgres'} dialect
 * @param {number} [rowCount]
 * @returns {string}
 */
export function rollupUpsertSql(spec, dialect, rowCount = 1) {
  const q = (name) => ident(name);
  const t = q(spec.table);
  const cols = rollupColumns(spec);
  const keys = [...spec.group.map((g) => g.column), ...(spec.each ? [spec.each.column] : [])];
  const [lo, hi] = dialect === 'postgres' ? ['least', 'greatest'] : ['min', 'max'];
  const tuples = [];
  for (let r = 0; r < rowCount; r++) {
    const marks = dialect === 'postgres' ? cols.map((_, i) => `$${r * cols.length + i + 1}`) : cols.map(() => '?');
    tuples.push(`(${marks.join(', ')})`);
  }
  const sets = [
    ...spec.add.map((a) => `${q(a.column)} = ${t}.${q(a.column)} + excluded.${q(a.column)}`),
    ...(spec.min ?? []).map((m) => `${q(m.column)} = ${lo}(${t}.${q(m.column)}, excluded.${q(m.column)})`),
    ...(spec.max ?? []).map((m) => `${q(m.column)} = ${hi}(${t}.${q(m.column)}, excluded.${q(m.column)})`),
  ];
  return `insert into ${t} (${cols.map(q).join(', ')}) values ${tuples.join(', ')} on conflict (${keys.map(q).join(', ')}) do update set ${sets.join(', ')}`;
}

/**
 * @param {readonly string[]} columns
 * @param {string} name
 */
function indexOf(columns, name) {
  const i = columns.indexOf(name);
  if (i === -1) throw new Error(`rollup source column ${name} is not one of the insert's columns`);
  return i;
}

/** @param {string} name */
export function ident(name) {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}
