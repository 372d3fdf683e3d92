import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export interface RawRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Called for every body chunk as it arrives (still compressed when content-encoding is set). */
  onChunk?: (chunk: Buffer, index: number) => void;
  /** Called once the response headers arrived; e.g. to `res.pause()` it. */
  onResponse?: (res: IncomingMessage) => void;
  signal?: AbortSignal;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body exactly as read from the socket, one entry per 'data' event (not decompressed). */
  chunks: Buffer[];
  body: Buffer;
  /** Set when the connection failed after the headers arrived (e.g. the server hung up mid-body). */
  error?: NodeJS.ErrnoException;
}

/**
 * A minimal node:http client that keeps the response body's chunk boundaries. Rejects when no
 * response headers arrive (connection refused, socket hang up); otherwise resolves when the
 * response closes, with `error` set if the body did not complete.
 * Uses a fresh connection (no keep-alive agent).
 */
export function rawRequest(url: string, opts: RawRequestOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, signal: opts.signal, agent: false });
    let responded = false;
    let error: NodeJS.ErrnoException | undefined;
    req.on('error', (err) => (responded ? (error ??= err) : reject(err)));
    req.once('response', (res) => {
      responded = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        opts.onChunk?.(chunk, chunks.length - 1);
      });
      res.on('error', (err) => (error ??= err));
      res.once('close', () => {
        if (!res.complete) error ??= Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, chunks, body: Buffer.concat(chunks), error });
      });
      opts.onResponse?.(res);
    });
    req.end(opts.body);
  });
}
