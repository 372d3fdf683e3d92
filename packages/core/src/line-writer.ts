import { write, writeSync } from 'node:fs';

/**
 * A log destination for a file descriptor (stdout) that joins lines and writes them in large
 * chunks, one write in flight at a time, so lines never interleave and a busy gateway makes
 * one syscall per ~64 KiB instead of one per line. `flush()` writes what is pending now; the
 * gateway calls it every second and at shutdown. Partial writes and EAGAIN (a full pipe) are
 * retried; on a hard crash, lines of the last second can be lost.
 *
 * @example
 * const out = new LineWriter(1);
 * const log = pino({}, out);
 */
export class LineWriter {
  private parts: string[] = [];
  private size = 0;
  private writing = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly chunkBytes = 65536,
  ) {}

  write(line: string): boolean {
    this.parts.push(line);
    this.size += line.length;
    if (this.size >= this.chunkBytes) this.drain();
    return true;
  }

  /** Writes everything pending; `cb` runs once it is out. */
  flush(cb?: () => void): void {
    if (cb) this.waiters.push(cb);
    this.drain();
  }

  /** For exit paths: writes what is pending synchronously. */
  flushSync(): void {
    if (this.writing || this.parts.length === 0) return;
    const data = this.take();
    writeSync(this.fd, data);
  }

  private take(): string {
    const data = this.parts.length === 1 ? this.parts[0] : this.parts.join('');
    this.parts = [];
    this.size = 0;
    return data;
  }

  private drain(): void {
    if (this.writing) return;
    if (this.parts.length === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
      return;
    }
    this.writing = true;
    this.send(Buffer.from(this.take()));
  }

  private send(buf: Buffer): void {
    write(this.fd, buf, 0, buf.length, null, (err, written) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => this.send(buf), 10).unref();
          return;
        }
        // Nowhere to report a broken stdout: drop this chunk and keep going.
        written = buf.length;
      }
      if (written < buf.length) return this.send(buf.subarray(written));
      this.writing = false;
      if (this.size >= this.chunkBytes || this.waiters.length > 0) this.drain();
    });
  }
}
