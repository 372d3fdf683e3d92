import { describe, expect, it } from 'vitest';
import { rollupSet, type RollupSpec } from './rollup.mjs';

describe('rollupSet', () => {
  it('adds a `when` sum only from rows whose flag is set, beside the sums of every row', () => {
    const spec: RollupSpec = {
      table: 't',
      group: [{ column: 'who', from: 'who' }],
      add: [{ column: 'n' }, { column: 'amount', from: 'amount' }, { column: 'flagged', from: 'amount', when: 'flag' }, { column: 'flagged_hi', from: 'amount', part: { div: 10 }, when: 'flag' }],
    };
    const set = rollupSet([spec], ['who', 'amount', 'flag']);
    for (const row of [['a', 15, 0], ['a', 27, 1], ['b', 5, 1], ['a', 100, null], ['b', '9007199254740993', 1]]) set.add(row);
    expect(set.rows()[0]!.rows).toEqual([
      ['a', 3, 142, 27, 2],
      ['b', 2, 9007199254740998n, 9007199254740998n, 900719925474099n],
    ]);
  });
});
