import type { Logger } from '@tollgate/core';
import type { LedgerBatch } from './ledger-store.js';

/** How a SpendWriter is set up: its database, spool file and bounds. */
export interface SpendWriterOptions {
  /** Writes a batch of rows; must be idempotent per request_id (replays happen). */
  write(batch: LedgerBatch): Promise<void>;
  /** JSON-lines file rows go to while the database cannot take them. */
  spoolFile: string;
  log: Logger;
  /** Longest a row waits in memory before a write is attempted. */
  flushIntervalMs: number;
  /** Rows per database write. */
  batchSize: number;
  /**
   * Most rows per write while a backlog waits (more than `batchSize` rows queued, or a spool
   * being replayed): the writer catches up in fewer, larger transactions, each write's fixed
   * costs (statement, commit, the rollup rows every batch touches) spread over more rows.
   * Default (and never less than) `batchSize`.
   */
  maxBatchSize?: number;
  /** Longest pause between retries while the database is failing. */
  maxRetryMs: number;
  /** Longest a write may take; then its rows go to the spool (default 10000). `close` gives up sooner at its deadline. */
  writeTimeoutMs?: number;
  /** Most rows in memory (waiting, being written, or waiting for a disk with room); default 50000. */
  maxQueuedRows?: number;
  /** Past `maxQueuedRows`: 'refuse' new requests (`full`), or 'serve' them and drop their rows, counted in `lost`. */
  whenFull?: 'refuse' | 'serve';
  /**
   * True when a write failed because of its rows (a value the database refuses), not because
   * the database is unavailable. Such a batch is written row by row, and the rows the database
   * still refuses go to the rejected-rows file instead of blocking the ledger.
   */
  isRowError?(err: unknown): boolean;
}

/** What `SpendWriter.state()` reports (GET /spend/queue): core's shape, which exporters read. */
export type { SpendQueueState } from '@tollgate/core';
