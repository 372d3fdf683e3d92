import { describe, expect, it } from 'vitest';
import { formatPairs, formatTable, printable } from './table.js';

describe('formatTable', () => {
  it('pads every column to its widest cell, two spaces apart, without trailing spaces', () => {
    expect(
      formatTable(
        ['ALIAS', 'USER', 'BLOCKED'],
        [
          ['ci-bot', '-', 'no'],
          ['a', 'alice-long', 'yes'],
        ],
      ),
    ).toEqual(['ALIAS   USER        BLOCKED', 'ci-bot  -           no', 'a       alice-long  yes']);
  });

  it('prints the header alone for no rows, and empty cells as blanks', () => {
    expect(formatTable(['A', 'B'], [])).toEqual(['A  B']);
    expect(formatTable(['A', 'B', 'C'], [['', 'x', '']])).toEqual(['A  B  C', '   x']);
  });

  it('neutralises control characters so a cell cannot break a row or drive the terminal', () => {
    expect(formatTable(['A', 'B'], [['line\nbreak', '\u001b[2Jx']])).toEqual(['A           B', 'line?break  ?[2Jx']);
  });
});

describe('formatPairs', () => {
  it('aligns the values in one column', () => {
    expect(
      formatPairs([
        ['key_alias', 'ci'],
        ['max_parallel_requests', '4'],
        ['note', ''],
      ]),
    ).toEqual(['key_alias              ci', 'max_parallel_requests  4', 'note']);
  });
});

describe('printable', () => {
  it('replaces C0, DEL and C1 controls and keeps everything else', () => {
    expect(printable('tab\there\r\u007f\u0085 é ✓')).toBe('tab?here??? é ✓');
  });
});
