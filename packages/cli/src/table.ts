/**
 * Lines of a plain-text table: a header row, then one row per entry, columns padded to their
 * widest cell and two spaces apart, no trailing spaces. Control characters in cells (a newline
 * or an escape sequence in a key alias) print as `?`, so a value cannot break the layout or the
 * terminal.
 *
 * @example
 * formatTable(['ALIAS', 'BLOCKED'], [['ci', 'no']]); // ['ALIAS  BLOCKED', 'ci     no']
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cells = [headers, ...rows].map((row) => headers.map((_, i) => printable(row[i] ?? '')));
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
}

/**
 * `name  value` lines with the values in one column.
 *
 * @example
 * formatPairs([['key_alias', 'ci'], ['blocked', 'no']]); // ['key_alias  ci', 'blocked    no']
 */
export function formatPairs(pairs: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(0, ...pairs.map(([name]) => name.length));
  return pairs.map(([name, value]) => `${name.padEnd(width)}  ${printable(value)}`.trimEnd());
}

/**
 * The text with every control character (C0, DEL, C1) replaced by `?`.
 *
 * @example
 * printable('a\nb\u001b[2J'); // 'a?b?[2J'
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
