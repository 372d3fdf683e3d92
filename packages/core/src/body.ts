import type { IncomingMessage } from 'node:http';
import { decodeContent, UnsupportedCodingError } from './content-coding.js';
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
export function readBody(req: IncomingMessage, limit: number, budget?: ByteBudget): Promise<Buffer> {
  const coding = req.headers['content-encoding'];
  const raw = readRawBody(req, limit, budget);
  if (coding === undefined) return raw;
  return raw.then(async (body) => {
    const decoded = await decodeBody(body, coding, limit);
    delete req.headers['content-encoding'];
    return decoded;
  });
}

/**
 * Bytes all requests together may hold while their bodies are read: each reading request
 * reserves what it declared (content-length), or what has arrived so far (chunked).
 *
 * @example
 * const budget = new ByteBudget(256 * 1024 * 1024);
 * if (!budget.take(n)) throw overloaded(); … budget.give(n);
 */
export class ByteBudget {
  private used = 0;
  constructor(readonly limit: number) {}

  /** Reserves `n` bytes; false (nothing reserved) when that would pass the limit. */
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used -= n;
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used;
  }
}

/** True when the request has a body still to come (declared, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const declared = req.headers['content-length'];
  return declared === undefined ? req.headers['transfer-encoding'] !== undefined : declared !== '0';
}

/** Unread body bytes Node may read and discard after an early answer (Go's net/http: 256 KiB too). */
const DISCARD_LIMIT = 256 * 1024;

/**
 * True when a request answered now would leave more of its body unread than is worth reading
 * to discard: the answer should close the connection instead (Node then destroys the socket
 * once the response is out, without reading the rest). Small bodies are discarded, keeping
 * the connection alive.
 *
 * @example
 * if (closesUnread(req)) res.setHeader('connection', 'close');
 */
export function closesUnread(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const declared = req.headers['content-length'];
  return declared === undefined ? req.headers['transfer-encoding'] !== undefined : Number(declared) > DISCARD_LIMIT;
}

/** Declared body lengths above this are read into one buffer allocated up front. */
const PREALLOCATE_BYTES = 64 * 1024;

function readRawBody(req: IncomingMessage, limit: number, budget: ByteBudget | undefined): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(EMPTY);
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  let reserved = declared === undefined ? 0 : Number(declared);
  if (budget && !budget.take(reserved)) return Promise.reject(overloaded(budget));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // A large body of declared length is copied into its buffer as it arrives: each chunk is
    // garbage at once (not held to the end), and no copy of the whole body blocks the loop at
    // its end. A small one is usually one chunk, kept as it is.
    let into = declared !== undefined && reserved > PREALLOCATE_BYTES ? Buffer.allocUnsafeSlow(reserved) : undefined;
    const cleanup = () => {
      budget?.give(reserved);
      reserved = 0;
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
      if (budget && size > reserved) {
        if (!budget.take(size - reserved)) {
          cleanup();
          reject(overloaded(budget));
          return;
        }
        reserved = size;
      }
      if (into && size <= into.length) {
        chunk.copy(into, size - chunk.length);
        return;
      }
      // More than declared (node:http does not let that happen): collect chunks from here on.
      if (into) chunks.push(into.subarray(0, size - chunk.length));
      into = undefined;
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      // node:http ends a body of declared length after exactly that many bytes.
      if (into) resolve(size === into.length ? into : into.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
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

/**
 * Undoes a request's `content-encoding` (gzip, deflate, br; a list is undone last coding
 * first), on zlib's thread pool. Decoded, the body may be at most `limit` bytes too, so a
 * small compressed body cannot expand into an unbounded one.
 *
 * @example
 * const json = await decodeBody(body, 'gzip', 32 * 1024 * 1024);
 */
export async function decodeBody(body: Buffer, contentEncoding: string, limit: number): Promise<Buffer> {
  try {
    return await decodeContent(body, contentEncoding, limit);
  } catch (err) {
    if (err instanceof UnsupportedCodingError) throw new GatewayError('TG_ERR_UNSUPPORTED_ENCODING', `request ${err.message}`);
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limit, ' once decoded');
    throw new GatewayError('TG_ERR_BAD_REQUEST', `the request body is not valid ${contentEncoding} data`, { cause: err });
  }
}

/**
 * A body the gateway does not read (a file upload), passed to the upstream chunk by chunk as
 * it arrives: undici pulls the next chunk only when the upstream socket takes more, so a slow
 * upstream slows the client, and nothing is buffered. More than `limit` bytes is a 413 (up
 * front from content-length; else when the count passes it, which aborts the upstream call).
 *
 * @example
 * const body = streamBody(req, 500 * 1000 * 1000); // hand to undici as the request body
 */
export function streamBody(req: IncomingMessage, limit: number): AsyncIterable<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
  return (async function* counted() {
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge(limit);
      yield chunk;
    }
  })();
}

function overloaded(budget: ByteBudget): GatewayError {
  return new GatewayError('TG_ERR_OVERLOADED', `the gateway is reading ${budget.limit} bytes of request bodies at once already (server.bodyReadLimit); try again shortly`, {
    headers: { 'retry-after': '1', connection: 'close' },
  });
}

function tooLarge(limit: number, when = ''): GatewayError {
  return new GatewayError('TG_ERR_BODY_TOO_LARGE', `request body is larger than ${limit} bytes${when}`, { headers: { connection: 'close' } });
}
