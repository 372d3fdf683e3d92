import type { ModelListing, RowListing } from './price-book.js';

/**
 * What changes between two price books, one line per change, sorted by model: `+` a model or
 * row added, `-` removed, `~` a row whose rates, multipliers or flags differ (each field
 * `old → new`). Empty when nothing changes.
 *
 * @example
 * diffPrices(before, after); // ['~ claude-x from 2026-01-01: standard.input 3 → 2.5']
 */
export function diffPrices(before: readonly ModelListing[], after: readonly ModelListing[]): string[] {
  const old = new Map(before.map((m) => [m.id, m]));
  const next = new Map(after.map((m) => [m.id, m]));
  const ids = [...new Set([...old.keys(), ...next.keys()])].sort();
  const out: string[] = [];
  for (const id of ids) {
    const a = old.get(id);
    const b = next.get(id);
    if (!a) out.push(`+ ${id} (new model, ${b!.rows.length} row(s))`);
    else if (!b) out.push(`- ${id} (model removed)`);
    else out.push(...diffRows(id, a.rows, b.rows));
  }
  return out;
}

function diffRows(id: string, a: readonly RowListing[], b: readonly RowListing[]): string[] {
  const key = (r: RowListing) => r.effectiveFrom ?? '-';
  const before = new Map(a.map((r) => [key(r), r]));
  const after = new Map(b.map((r) => [key(r), r]));
  const out: string[] = [];
  for (const k of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const x = before.get(k);
    const y = after.get(k);
    const at = `${id} from ${k === '-' ? 'the start' : k}`;
    if (!x) out.push(`+ ${at}: ${y!.unpriced ? 'unpriced' : 'new row'}`);
    else if (!y) out.push(`- ${at}`);
    else {
      const changes = changed(flat(x), flat(y));
      if (changes.length > 0) out.push(`~ ${at}: ${changes.join(', ')}`);
    }
  }
  return out;
}

/** A row's comparable fields as `path → text` (the source is left out: provenance, not price). */
function flat(r: RowListing): Record<string, string> {
  const { source: _source, ...rest } = r;
  const out: Record<string, string> = {};
  const walk = (prefix: string, v: unknown) => {
    if (v !== null && typeof v === 'object') for (const [k, w] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, w);
    else out[prefix] = String(v);
  };
  walk('', rest);
  return out;
}

function changed(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .sort()
    .filter((k) => a[k] !== b[k])
    .map((k) => `${k} ${a[k] ?? '-'} → ${b[k] ?? '-'}`);
}
