import { describe, expect, it } from 'vitest';
import { upstreamLines } from './reconcile.js';

describe('upstreamLines', () => {
  it('names each mapped upstream its own line; rows naming none go to the one key when there is one', () => {
    const one = upstreamLines({ primary: 'apikey_01' });
    expect([one.byUpstream(null), one.byUpstream('default'), one.byUpstream('primary'), one.byUpstream('spare')]).toEqual(['primary', 'primary', 'primary', undefined]);
    expect([...one.byId]).toEqual([['apikey_01', 'primary']]);
  });

  it('with several keys: unnamed rows are unattributed, an upstream not mapped is left out, names sharing a key share a line', () => {
    const pool = upstreamLines({ a: 'apikey_01', b: 'apikey_02', c: 'apikey_02' });
    expect([pool.byUpstream('a'), pool.byUpstream('b'), pool.byUpstream('c'), pool.byUpstream(null), pool.byUpstream('default'), pool.byUpstream('d')]).toEqual(['a', 'b+c', 'b+c', 'unattributed', 'unattributed', undefined]);
    expect([...pool.byId]).toEqual([['apikey_01', 'a'], ['apikey_02', 'b+c']]);
  });
});
