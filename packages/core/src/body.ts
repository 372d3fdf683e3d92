import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from 'node:zlib';
import { GatewayError } from './errors.js';

const EMPTY = Buffer.alloc(0);

/**
 * Reads a request body up to `limit` bytes; more is a 413 (checked against content-length
 * before anything is read). A body with a `content-encoding` comes back decoded (see
 * decodeBody), and the header is removed from `req`, so every reader and the upstream see
 * the body as it now is. Plain bodies pay one header lookup.
 *
 * @example
 * const body = await readBody(req, 32 * 1024 * 1024);
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const coding = req.headers['content-encoding'];
  const raw = readRawBody(req, limit);
  if (coding === undefined) return raw;
  return raw.then(async (body) => {
    const decoded = await decodeBody(body, coding, limit);
    delete req.headers['content-encoding'];
    return decoded;
  });
}

function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(EMPTY);
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new GatewayError('TG_ERR_BAD_REQUEST', 'the request body could not be read', { cause: err }));
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new GatewayError('TG_ERR_BAD_REQUEST', 'the client closed the connection while sending the body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const DECODERS: Record<string, (body: Buffer, options: ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

/**
 * Undoes a request's `content-encoding` (gzip, deflate, br; a list is undone last coding
 * first), on zlib's thread pool. Decoded, the body may be at most `limit` bytes too, so a
 * small compressed body cannot expand into an unbounded one.
 *
 * @example
 * const json = await decodeBody(body, 'gzip', 32 * 1024 * 1024);
 */
export async function decodeBody(body: Buffer, contentEncoding: string, limit: number): Promise<Buffer> {
  const codings = contentEncoding
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  let out = body;
  for (const coding of codings.reverse()) {
    const decode = DECODERS[coding];
    if (!decode) throw new GatewayError('TG_ERR_UNSUPPORTED_ENCODING', `request content-encoding ${coding} is not supported (gzip, deflate or br)`);
    try {
      out = await decode(out, { maxOutputLength: limit });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limit, ' once decoded');
      throw new GatewayError('TG_ERR_BAD_REQUEST', `the request body is not valid ${coding} data`, { cause: err });
    }
  }
  return out;
}

function tooLarge(limit: number, when = ''): GatewayError {
  return new GatewayError('TG_ERR_BODY_TOO_LARGE', `request body is larger than ${limit} bytes${when}`, { headers: { connection: 'close' } });
}
