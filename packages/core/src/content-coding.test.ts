import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeContent, UnsupportedCodingError } from './content-coding.js';

const text = Buffer.from('{"usage":{"input_tokens":3}}'.repeat(100));

describe('decodeContent', () => {
  it('gives identity bodies back as they are, without a promise', () => {
    expect(decodeContent(text, undefined, 10)).toBe(text);
    expect(decodeContent(text, ' identity ', 10)).toBe(text);
  });

  it.each([
    ['gzip', gzipSync(text)],
    ['deflate', deflateSync(text)],
    ['br', brotliCompressSync(text)],
    ['gzip, br', brotliCompressSync(gzipSync(text))],
  ])('undoes %s on the thread pool (a promise), last coding first', async (coding, bytes) => {
    const out = decodeContent(bytes, coding, 1 << 20);
    expect(out).toBeInstanceOf(Promise);
    expect((await out).equals(text)).toBe(true);
  });

  it('refuses output past the limit, and codings it does not know', async () => {
    await expect(decodeContent(gzipSync(text), 'gzip', 100)).rejects.toMatchObject({ code: 'ERR_BUFFER_TOO_LARGE' });
    await expect(decodeContent(text, 'zstd', 100)).rejects.toEqual(new UnsupportedCodingError('zstd'));
  });
});
