import type { InjectionToken } from 'tsyringe';

/** Why records an export sink accepted never reached it. */
export interface SinkLosses {
  /** The bounded queue was full: the oldest waiting record made room for the newest. */
  queueFull: number;
  /** The sink refused a batch in a way a retry cannot fix (e.g. HTTP 400, 401, 413). */
  rejected: number;
  /** Every attempt at a batch failed (connection refused, timeout, 5xx, disk error). */
  retriesExhausted: number;
  /** Still waiting when the gateway's shutdown flush ran out of time. */
  shutdown: number;
}

/** Delivery counters of one export sink since boot. Counts are records, not batches. */
export interface SinkStats {
  /** The sink's name, unique per gateway (e.g. `otlp`, `file`, `webhook-2`). */
  name: string;
  /** What kind of sink it is (`otlp`, `file`, `webhook`, …). */
  type: string;
  /** Records delivered. */
  sent: number;
  /** Records lost, all reasons together (the sum of `lost`). */
  dropped: number;
  lost: SinkLosses;
  /** Delivery attempts that failed; every retry counts once. */
  failed: number;
  /** Records waiting in memory, including a batch being sent or retried. */
  queueDepth: number;
}

/**
 * Read side of the export sinks (request logging to OTLP, files, webhooks), for metrics.
 * Provided by the logging plugin; absent when none is loaded. Resolve it when it is read (a
 * scrape) or in `onReady`, not in `setup`: the provider may be set up after the reader.
 *
 * @example
 * if (api.has(SINK_STATS)) {
 *   for (const s of api.resolve(SINK_STATS).sinks()) gauge.set({ sink: s.name }, s.queueDepth);
 * }
 */
export interface SinkStatsSource {
  /** A fresh snapshot of every sink. Cheap: meant to be called on each scrape. */
  sinks(): SinkStats[];
}

export const SINK_STATS: InjectionToken<SinkStatsSource> = Symbol.for('tollgate.sink-stats');
