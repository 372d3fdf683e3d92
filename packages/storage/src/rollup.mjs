// Rollups kept by the writer in the same transaction as the rows they sum. Plain JavaScript:
// the SQLite writer thread loads it as is (like sqlite-worker.mjs), and background-writer.ts
// uses it for PostgreSQL.

/**
 * A rollup table the writer keeps from the rows of an insert (see BulkInsert.rollups).
 * @typedef {object} RollupSpec
 * @property {string} table
 * @property {readonly { column: string; from: string; day?: true; days?: number }[]} group Grouping columns (the table's unique key, with `each`), each from a column of the insert; `day` turns epoch ms into the UTC day number, and with `days` into the first day number of its span of that many days (spans counted from day 0).
 * @property {{ column: string; from: string }} [each] One rollup row per distinct element of this column's JSON array (tags), under `column`, besides `group`.
 * @property {readonly { column: string; from?: string; atLeast?: number; part?: { div: number } | { mod: number }; when?: string }[]} add Added-up columns: a column's value (or its whole quotient or remainder by a number: `part`), 1 per row (no `from`), or 1 per row whose `from` is at least `atLeast`; with `when`, only rows whose `when` column is at least 1 (a flag) add.
 * @property {readonly { column: string; from: string }[]} [min] The smallest value of a column, kept.
 * @property {readonly { column: string; from: string }[]} [max] The largest value of a column, kept.
 */

/**
 * Rows stored: none, or those matching any of the tests (a column at least a number, or not null).
 * @typedef {readonly ({ column: string; atLeast: number } | { column: string; notNull: true })[] | 'none'} KeepWhen
 */

/** Milliseconds in a UTC day: `day` groups are epoch ms divided by it. */
export const DAY_MS = 86_400_000;

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
 * Adds rows up into rollup tables' rows, grouped as each spec says. Null grouping values are
 * stored as '' (a primary key column cannot hold null in every engine). A row's values are
 * read once for every spec that adds the same list (`add` is the same array); sums are
 * numbers while exact, BigInt past 2^53 (pico-dollars as decimal strings).
 * @param {readonly RollupSpec[]} specs
 * @param {readonly string[]} columns
 * @returns {{ add(row: readonly unknown[]): void; rows(): { spec: RollupSpec; rows: unknown[][] }[] }}
 */
export function rollupSet(specs, columns) {
  /** @type {Map<RollupSpec['add'], { read: (row: readonly unknown[], out: (number | bigint)[]) => void; out: (number | bigint)[] }>} */
  const readers = new Map();
  const parts = specs.map((spec) => {
    let reader = readers.get(spec.add);
    if (!reader) {
      reader = { read: valueReader(spec.add, columns), out: spec.add.map(() => 0) };
      readers.set(spec.add, reader);
    }
    return { spec, reader, acc: groupAccumulator(spec, columns) };
  });
  const allReaders = [...readers.values()];
  return {
    add(row) {
      for (const r of allReaders) r.read(row, r.out);
      for (const p of parts) p.acc.add(row, p.reader.out);
    },
    rows: () => parts.map((p) => ({ spec: p.spec, rows: p.acc.rows() })),
  };
}

/** One spec's groups and their sums. */
function groupAccumulator(spec, columns) {
  const group = spec.group.map((g) => indexOf(columns, g.from));
  const isDay = spec.group.map((g) => g.day === true);
  const span = spec.group.map((g) => g.days ?? 1);
  const each = spec.each ? indexOf(columns, spec.each.from) : -1;
  const min = (spec.min ?? []).map((m) => indexOf(columns, m.from));
  const max = (spec.max ?? []).map((m) => indexOf(columns, m.from));
  const sums = new Map();
  const keyValues = new Array(group.length);

  const addTo = (key, keys, row, values) => {
    let acc = sums.get(key);
    if (!acc) {
      acc = { keys: [...keys], add: values.map(() => 0), min: min.map(() => Infinity), max: max.map(() => -Infinity) };
      sums.set(key, acc);
    }
    const sum = acc.add;
    for (let j = 0; j < values.length; j++) {
      const a = sum[j];
      const v = values[j];
      const n = typeof a === 'number' && typeof v === 'number' ? a + v : NaN;
      sum[j] = Number.isSafeInteger(n) ? n : BigInt(a) + BigInt(v);
    }
    for (let j = 0; j < min.length; j++) acc.min[j] = Math.min(acc.min[j], Number(row[min[j]]));
    for (let j = 0; j < max.length; j++) acc.max[j] = Math.max(acc.max[j], Number(row[max[j]]));
  };

  return {
    add(row, values) {
      let key = '';
      for (let j = 0; j < group.length; j++) {
        const v = row[group[j]];
        const k = isDay[j] ? Math.floor(Math.floor(Number(v) / DAY_MS) / span[j]) * span[j] : v === null || v === undefined ? '' : String(v);
        keyValues[j] = k;
        // Grouping values are text or day numbers: joined by a control character, they name the group.
        key += j === 0 ? k : `\u0001${k}`;
      }
      if (each === -1) return addTo(key, keyValues, row, values);
      const raw = row[each];
      if (raw === '[]') return;
      const list = typeof raw === 'string' ? JSON.parse(raw) : (raw ?? []);
      for (const item of new Set(list)) addTo(`${key}\u0000${item}`, [...keyValues, String(item)], row, values);
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

/**
 * Reads the added-up values of a row into `out`: 1, a 0/1 test, a column's value, or its
 * whole quotient or remainder by a number (numbers while exact; BigInt past 2^53); 0 for a
 * row whose `when` flag is not set.
 * @param {RollupSpec['add']} add
 * @param {readonly string[]} columns
 */
function valueReader(add, columns) {
  const specs = add.map((a) => ({ i: a.from === undefined ? -1 : indexOf(columns, a.from), atLeast: a.atLeast, part: a.part, when: a.when === undefined ? -1 : indexOf(columns, a.when) }));
  return (/** @type {readonly unknown[]} */ row, /** @type {(number | bigint)[]} */ out) => {
    for (let j = 0; j < specs.length; j++) {
      const a = specs[j];
      if (a.when !== -1 && !(Number(row[a.when]) >= 1)) {
        out[j] = 0;
        continue;
      }
      if (a.i === -1) {
        out[j] = 1;
        continue;
      }
      const raw = row[a.i];
      if (a.atLeast !== undefined) {
        out[j] = Number(raw) >= a.atLeast ? 1 : 0;
        continue;
      }
      const n = raw === null || raw === undefined ? 0 : Number(raw);
      if (!Number.isSafeInteger(n)) {
        const b = BigInt(/** @type {any} */ (raw));
        out[j] = a.part ? ('div' in a.part ? b / BigInt(a.part.div) : b % BigInt(a.part.mod)) : b;
      } else {
        out[j] = a.part ? ('div' in a.part ? Math.floor(n / a.part.div) : n % a.part.mod) : n;
      }
    }
  };
}

/** The rollup table's columns in the order `rows()` gives their values. */
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
  const cols = rollupColumns(spec);
  const tuples = [];
  for (let r = 0; r < rowCount; r++) {
    const marks = dialect === 'postgres' ? cols.map((_, i) => `$${r * cols.length + i + 1}`) : cols.map(() => '?');
    tuples.push(`(${marks.join(', ')})`);
  }
  return `insert into ${ident(spec.table)} (${cols.map(ident).join(', ')}) values ${tuples.join(', ')} ${rollupConflictSql(spec, dialect)}`;
}

/**
 * The `on conflict (group) do update set …` that adds a rollup row into the one already there.
 * @param {RollupSpec} spec
 * @param {'sqlite' | 'postgres'} dialect
 * @returns {string}
 */
export function rollupConflictSql(spec, dialect) {
  const q = (name) => ident(name);
  const t = q(spec.table);
  const keys = [...spec.group.map((g) => g.column), ...(spec.each ? [spec.each.column] : [])];
  const [lo, hi] = dialect === 'postgres' ? ['least', 'greatest'] : ['min', 'max'];
  const sets = [
    ...spec.add.map((a) => `${q(a.column)} = ${t}.${q(a.column)} + excluded.${q(a.column)}`),
    ...(spec.min ?? []).map((m) => `${q(m.column)} = ${lo}(${t}.${q(m.column)}, excluded.${q(m.column)})`),
    ...(spec.max ?? []).map((m) => `${q(m.column)} = ${hi}(${t}.${q(m.column)}, excluded.${q(m.column)})`),
  ];
  return `on conflict (${keys.map(q).join(', ')}) do update set ${sets.join(', ')}`;
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
