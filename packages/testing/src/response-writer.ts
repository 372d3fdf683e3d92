import type { ServerResponse } from 'node:http';
import { constants, createGzip, type Gzip } from 'node:zlib';
import type { WriteInfo } from './reply.js';

export interface ResponseWriterOptions {
  onWrite?: (info: WriteInfo) => void;
  /** Wait for 'drain' after a write that returned false. */
  waitForDrain: boolean;
}

/** Writes response chunks one at a time, reporting and (optionally) honouring backpressure. */
export class ResponseWriter {
  private lastFlushed: Promise<void> = Promise.resolve();
  private readonly closed: Promise<void>;

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: ResponseWriterOptions,
  ) {
    this.closed = new Promise((resolve) => res.once('close', resolve));
  }

  /** Writes one chunk; resolves false when the connection is gone. */
  async write(chunk: Buffer): Promise<boolean> {
    if (this.res.destroyed) return false;
    let flushed!: () => void;
    this.lastFlushed = new Promise((resolve) => (flushed = resolve));
    const ok = this.res.write(chunk, () => flushed());
    this.opts.onWrite?.({ bytes: chunk.length, backpressured: !ok });
    if (!ok && this.opts.waitForDrain) await this.drained();
    return !this.res.destroyed;
  }

  /** Resolves once every write so far reached the socket (or the connection closed). */
  flushed(): Promise<void> {
    return Promise.race([this.lastFlushed, this.closed]);
  }

  private drained(): Promise<void> {
    return Promise.race([new Promise<void>((resolve) => this.res.once('drain', resolve)), this.closed]);
  }
}

/** A gzip stream that returns the compressed bytes for each chunk, sync-flushed so each is decodable on arrival. */
export class GzipEncoder {
  private readonly gzip: Gzip = createGzip();
  private output: Buffer[] = [];

  constructor() {
    this.gzip.on('data', (chunk: Buffer) => this.output.push(chunk));
  }

  encode(chunk: Buffer): Promise<Buffer> {
    this.gzip.write(chunk);
    return new Promise((resolve) => this.gzip.flush(constants.Z_SYNC_FLUSH, () => resolve(this.take())));
  }

  /** Ends the stream; resolves the remaining bytes (final block + trailer). */
  end(): Promise<Buffer> {
    return new Promise((resolve) => {
      this.gzip.once('end', () => resolve(this.take()));
      this.gzip.end();
    });
  }

  /** Releases zlib resources without finishing the stream. */
  destroy(): void {
    this.gzip.destroy();
  }

  private take(): Buffer {
    return Buffer.concat(this.output.splice(0));
  }
}
