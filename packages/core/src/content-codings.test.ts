import { describe, expect, it } from 'vitest';
import { readableCodings } from './content-codings.js';

describe('readableCodings', () => {
  it('keeps the codings the gateway decodes, with their weights, and drops zstd and *', () => {
    expect(readableCodings('gzip, deflate, br, zstd')).toBe('gzip, deflate, br');
    expect(readableCodings('zstd;q=1.0, br;q=0.9, *;q=0.1')).toBe('br;q=0.9');
    expect(readableCodings(['gzip', 'identity'])).toBe('gzip, identity');
  });

  it('leaves nothing when nothing readable was offered', () => {
    expect(readableCodings('zstd')).toBeUndefined();
    expect(readableCodings('*')).toBeUndefined();
    expect(readableCodings(undefined)).toBeUndefined();
  });
});
