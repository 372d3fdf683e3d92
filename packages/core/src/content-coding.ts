import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from 'node:zlib';

const DECODERS: Record<string, (body: Buffer, options: ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

/** A content coding the gateway cannot undo; `coding` names it. */
export class UnsupportedCodingError extends Error {
  constructor(readonly coding: string) {
    super(`content-encoding ${coding} is not supported (gzip, deflate or br)`);
    this.name = 'UnsupportedCodingError';
  }
}

/**
 * The one place bodies are decompressed, request and response alike: on zlib's thread pool,
 * never on the event loop. Undoes a `content-encoding` list last coding first; the output may
 * be at most `maxOutputLength` bytes (zlib's ERR_BUFFER_TOO_LARGE past it), so a small body
 * cannot expand into an unbounded one. Identity bodies come back as they are, without a promise.
 *
 * @example
 * const json = await decodeContent(body, 'gzip', 16 * 1024 * 1024);
 */
export function decodeContent(body: Buffer, contentEncoding: string | undefined, maxOutputLength: number): Buffer | Promise<Buffer> {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return body;
  return codings.reverse().reduce<Promise<Buffer>>((out, coding) => {
    const decode = DECODERS[coding];
    if (!decode) return Promise.reject(new UnsupportedCodingError(coding));
    return out.then((bytes) => decode(bytes, { maxOutputLength }));
  }, Promise.resolve(body));
}
