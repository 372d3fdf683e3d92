import type { InjectionToken } from 'tsyringe';

/** Where the spend ledger's writes stand, for metrics and health reports. */
export interface SpendQueueState {
  /** Rows in memory not yet committed: waiting, being written, or waiting for disk space. */
  queued: number;
  /** Rows in the spool file, waiting for the database. */
  spooled: number;
  /** Database writes that failed since start. */
  writeFailures: number;
  /** Rows the database refused since start (kept aside, out of the ledger). */
  rejected: number;
  /** Rows dropped since start because the ledger could take no more (whenFull: serve), or unwritten at shutdown. */
  lost: number;
  /** False while writes fail and rows go to the spool. */
  healthy: boolean;
}

/**
 * The spend ledger's write queue, provided by a cost plugin so exporters can report its depth
 * and failures without importing it.
 *
 * @example
 * if (api.has(SPEND_QUEUE)) {
 *   const { queued, writeFailures } = api.resolve(SPEND_QUEUE).state();
 * }
 */
export interface SpendQueue {
  /** A snapshot; cheap enough to call on every scrape. */
  state(): SpendQueueState;
}

/** Provided by a cost plugin; absent when none is loaded. */
export const SPEND_QUEUE: InjectionToken<SpendQueue> = Symbol.for('tollgate.spend-queue');
