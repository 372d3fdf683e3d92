import { describe, expect, it } from 'vitest';
import { splitInserts, type BulkInsert } from './background-writer.js';

const SPLIT = { by: 'key', parts: 3, minRows: 10 };
/** `n` rows of request id, key and amount, over `keys` keys, as JSON text (as the ledger queues them). */
const logs = (n: number, keys: number, o: Pick<BulkInsert, 'keepWhen' | 'onConflictDoNothing'> = {}): BulkInsert => ({
  table: 'logs',
  columns: ['id', 'key', 'amount'],
  json: JSON.stringify(Array.from({ length: n }, (_, i) => [`r${i}`, i % keys === 0 ? null : `k${i % keys}`, i])),
  onConflictDoNothing: ['id'],
  ...o,
});
/** Two tag rows for every other request of `logs(n, …)`. */
const tags = (n: number): BulkInsert => ({
  table: 'tags',
  columns: ['id', 'tag'],
  rows: Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === 0).flatMap((i) => [[`r${i}`, 'x'], [`r${i}`, `t${i}`]]),
  onConflictDoNothing: ['id', 'tag'],
});
const rowsOf = (b: BulkInsert) => b.rows as unknown[][];

describe('splitInserts', () => {
  it('splits by the column: each value, and every row that follows it, in exactly one part', () => {
    const parts = splitInserts([logs(300, 40), tags(300)], SPLIT);
    expect(parts).toHaveLength(3);
    const keyPart = new Map<unknown, number>();
    const idPart = new Map<unknown, number>();
    parts.forEach(([l, t], p) => {
      expect(l!.json).toBeUndefined();
      for (const [id, key] of rowsOf(l!)) {
        expect(keyPart.get(key) ?? p, `key ${String(key)}`).toBe(p);
        keyPart.set(key, p);
        idPart.set(id, p);
      }
      // A request's tags go with it.
      for (const [id] of rowsOf(t!)) expect(idPart.get(id), `tag of ${String(id)}`).toBe(p);
    });
    // Nothing lost or repeated.
    expect(parts.flatMap(([l]) => rowsOf(l!)).map((r) => r[0]).sort()).toEqual((JSON.parse(logs(300, 40).json as string) as unknown[][]).map((r) => r[0]).sort());
    expect(parts.flatMap(([, t]) => rowsOf(t!))).toHaveLength(300);
  });

  it('gives no part fewer than minRows of the first insert on average, and no empty part', () => {
    expect(splitInserts([logs(25, 40)], SPLIT)).toHaveLength(2);
    // One key: one part, whatever the size.
    const one = splitInserts([logs(300, 1)], SPLIT);
    expect(one).toHaveLength(1);
    expect(rowsOf(one[0]![0]!)).toHaveLength(300);
  });

  it('keeps a write whole when a part could not be written again harmlessly, or is too small to split', () => {
    for (const batch of [
      [logs(300, 40, { keepWhen: [{ column: 'amount', atLeast: 5 }] })],
      [logs(300, 40, { onConflictDoNothing: undefined })],
      [logs(300, 40), { ...tags(300), parent: 0 }],
    ]) {
      expect(splitInserts(batch, SPLIT)).toEqual([batch]);
    }
    const small = splitInserts([logs(19, 40), tags(19)], SPLIT);
    expect(small).toHaveLength(1);
    expect(small[0]!.map((b) => rowsOf(b).length)).toEqual([19, 20]);
  });

  it('names a split column the insert does not have', () => {
    expect(() => splitInserts([logs(300, 40)], { ...SPLIT, by: 'nope' })).toThrow(/logs has no column nope/);
  });
});
