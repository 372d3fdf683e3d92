import { describe, expect, it } from 'vitest';
import { readClientKey } from './credentials.js';

describe('readClientKey', () => {
  it('reads x-api-key', () => {
    expect(readClientKey({ 'x-api-key': 'sk-tg-1' })).toBe('sk-tg-1');
  });

  it('reads a Bearer token whatever the scheme case and spacing', () => {
    expect(readClientKey({ authorization: 'Bearer sk-tg-2' })).toBe('sk-tg-2');
    expect(readClientKey({ authorization: 'bearer sk-tg-2' })).toBe('sk-tg-2');
    expect(readClientKey({ authorization: 'BEARER \t sk-tg-2 ' })).toBe('sk-tg-2');
  });

  it('prefers x-api-key when both are sent', () => {
    expect(readClientKey({ 'x-api-key': 'from-header', authorization: 'Bearer from-bearer' })).toBe('from-header');
  });

  it('falls back to the Bearer token when x-api-key is empty', () => {
    expect(readClientKey({ 'x-api-key': '  ', authorization: 'Bearer sk-tg-3' })).toBe('sk-tg-3');
  });

  it('ignores other schemes, empty tokens and absent headers', () => {
    expect(readClientKey({ authorization: 'Basic dXNlcjpwYXNz' })).toBeUndefined();
    expect(readClientKey({ authorization: 'Bearer' })).toBeUndefined();
    expect(readClientKey({ authorization: 'Bearer   ' })).toBeUndefined();
    expect(readClientKey({ authorization: 'Bearersk-tg-4' })).toBeUndefined();
    expect(readClientKey({ 'x-api-key': '' })).toBeUndefined();
    expect(readClientKey({})).toBeUndefined();
  });

  it('takes the first value of a hand-built array header', () => {
    expect(readClientKey({ 'x-api-key': ['first', 'second'] })).toBe('first');
  });
});
