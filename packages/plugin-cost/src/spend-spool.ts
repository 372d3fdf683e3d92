import { mkdir, open, rm, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { dirname, join } from 'node:path';
import type { Logger } from '@tollgate/core';
import type { SpendRow } from './spend-row.js';

const SPOOL_READ_BYTES = 1 << 20;
/** Rows the database refused (JSON lines: `{ error, row }`), next to the spool file. */
export const REJECT_FILE = 'spend-rejected.jsonl';

/**
 * The ledger's files on disk: the spool (JSON lines of rows waiting for the database) and the
 * rejected-rows file beside it. An append is all or nothing: one that fails part way (a full
 * disk) is cut back, so no torn line is left for the next append to run into.
 */
export class SpendSpool {
  /** An append failed and could not be cut back: the next one starts on a fresh line. */
  private torn = new Set<string>();

  constructor(
    readonly file: string,
    private readonly batchSize: number,
    private readonly log: Logger,
  ) {}

  get rejectFile(): string {
    return join(dirname(this.file), REJECT_FILE);
  }

  /** Bytes in the spool (0 when there is none). */
  async size(): Promise<number> {
    return stat(this.file).then(
      (s) => s.size,
      (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 0 : Promise.reject(err)),
    );
  }

  append(rows: readonly SpendRow[]): Promise<void> {
    return this.appendAll(this.file, rows.map((r) => `${JSON.stringify(r, bigintAsString)}\n`).join(''));
  }

  /** Keeps a row the database refuses, with why, in the rejected-rows file. */
  reject(row: SpendRow, error: string): Promise<void> {
    return this.appendAll(this.rejectFile, `${JSON.stringify({ error, row }, bigintAsString)}\n`);
  }

  remove(): Promise<void> {
    return rm(this.file, { force: true });
  }

  /** The spool's rows, `batchSize` at a time, read 1 MiB at a time (it may be far larger than memory). */
  async *batches(): AsyncGenerator<SpendRow[]> {
    let file;
    try {
      file = await open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const chunk = Buffer.alloc(SPOOL_READ_BYTES);
      const decoder = new StringDecoder('utf8');
      let rest = '';
      let batch: SpendRow[] = [];
      for (;;) {
        const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
        const lines = (rest + (bytesRead > 0 ? decoder.write(chunk.subarray(0, bytesRead)) : decoder.end())).split('\n');
        rest = bytesRead > 0 ? lines.pop()! : '';
        for (const line of lines) {
          const row = this.row(line);
          if (row) batch.push(row);
          if (batch.length >= this.batchSize) {
            yield batch;
            batch = [];
          }
        }
        if (bytesRead === 0) break;
      }
      if (batch.length > 0) yield batch;
    } finally {
      await file.close();
    }
  }

  private async appendAll(path: string, text: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, 'a');
    try {
      const { size } = await fh.stat();
      try {
        await fh.appendFile(this.torn.has(path) ? `\n${text}` : text);
        this.torn.delete(path);
      } catch (err) {
        await fh.truncate(size).catch((cutErr: unknown) => {
          this.torn.add(path);
          this.log.warn({ err: cutErr, file: path }, 'could not cut back a failed append: its torn last line will be skipped when the file is read');
        });
        throw err;
      }
    } finally {
      await fh.close();
    }
  }

  private row(line: string): SpendRow | undefined {
    if (!line.trim()) return undefined;
    try {
      const r = JSON.parse(line) as SpendRow & { spend: string };
      return { ...r, spend: BigInt(r.spend) };
    } catch (err) {
      // A torn last line from a crash mid-append: the rest of the file is still good.
      this.log.warn({ err }, 'skipping an unreadable line in the spend spool');
      return undefined;
    }
  }
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
