// Keeps docs/config.md and docs/errors.md in step with core: the tables there are checked
// against coreConfigSchema and ERROR_CODES.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { coreConfigSchema, ERROR_CODES } from '@tollgate/core';
import { configTable } from '../../docs/config-table.mjs';

const doc = (name: string) => readFile(new URL(`../../docs/${name}`, import.meta.url), 'utf8');
const between = (text: string, marker: string) => {
  const start = text.indexOf(`<!-- ${marker}:start -->\n`);
  const end = text.indexOf(`<!-- ${marker}:end -->`);
  expect([start, end].every((i) => i >= 0)).toBe(true);
  return text.slice(start + `<!-- ${marker}:start -->\n`.length, end).trim();
};

describe('docs', () => {
  it('config.md has the field table generated from coreConfigSchema', async () => {
    expect(between(await doc('config.md'), 'config-table')).toBe(configTable(coreConfigSchema));
  });

  it('errors.md lists every ERROR_CODES entry with its status and type, and nothing else', async () => {
    const rows = between(await doc('errors.md'), 'error-codes')
      .split('\n')
      .slice(2)
      .map((line) => /^\| `(TG_ERR_[A-Z_]+)` \| (\d{3}) \| `([a-z_]+)` \| .+ \|$/.exec(line));
    expect(rows.every(Boolean)).toBe(true);
    expect(Object.fromEntries(rows.map((m) => [m![1], [Number(m![2]), m![3]]]))).toEqual(
      Object.fromEntries(Object.entries(ERROR_CODES).map(([code, [status, type]]) => [code, [status, type]])),
    );
  });
});
