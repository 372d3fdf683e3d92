import type { SinkStats, SinkStatsSource, SpendQueue } from '@tollgate/core';
import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * A counter whose total another component keeps (write failures, sink deliveries): set to
 * that total at each scrape.
 */
export function mirroredCounter<L extends string>(registry: Registry, spec: { name: string; help: string; labelNames?: L[] }, read: () => [Partial<Record<L, string>>, number][]): void {
  new Counter({
    ...spec,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** The spend ledger's write queue (SPEND_QUEUE), read at each scrape. */
export function registerSpendQueueMetrics(registry: Registry, queue: SpendQueue): void {
  new Gauge({
    name: 'tollgate_spend_queue_depth',
    help: 'Spend rows not yet in the database: in memory, being written included (queue="memory"), or in the spool file while the database fails (queue="spool").',
    labelNames: ['queue'],
    registers: [registry],
    collect() {
      const s = queue.state();
      this.set({ queue: 'memory' }, s.queued);
      this.set({ queue: 'spool' }, s.spooled);
    },
  });
  mirroredCounter(registry, { name: 'tollgate_spend_write_failures_total', help: 'Spend ledger database writes that failed (each retry counts).' }, () => [[{}, queue.state().writeFailures]]);
  mirroredCounter(
    registry,
    { name: 'tollgate_spend_rows_rejected_total', help: 'Spend rows the database refused for their content, kept in the rejected-rows file (spend-rejected.jsonl) instead of the ledger.' },
    () => [[{}, queue.state().rejected]],
  );
  mirroredCounter(
    registry,
    { name: 'tollgate_spend_rows_lost_total', help: 'Spend rows dropped: the ledger queue was full with cost.ledger.whenFull "serve", or rows still unwritten at shutdown.' },
    () => [[{}, queue.state().lost]],
  );
  new Gauge({
    name: 'tollgate_spend_ledger_healthy',
    help: '1 while spend rows reach the database, 0 while they are spooled to disk.',
    registers: [registry],
    collect() {
      this.set(queue.state().healthy ? 1 : 0);
    },
  });
}

/** The request-logging sinks (SINK_STATS), read at each scrape. */
export function registerSinkMetrics(registry: Registry, source: SinkStatsSource): void {
  const labelNames: ('sink' | 'type')[] = ['sink', 'type'];
  const of = (s: SinkStats) => ({ sink: s.name, type: s.type });
  mirroredCounter(registry, { name: 'tollgate_sink_records_sent_total', help: 'Request records delivered to each logging sink.', labelNames }, () => source.sinks().map((s) => [of(s), s.sent]));
  mirroredCounter(
    registry,
    { name: 'tollgate_sink_records_dropped_total', help: 'Request records a logging sink lost, by reason: queue_full, rejected, retries_exhausted, shutdown.', labelNames: ['sink', 'type', 'reason'] },
    () =>
      source.sinks().flatMap((s) => [
        [{ ...of(s), reason: 'queue_full' }, s.lost.queueFull],
        [{ ...of(s), reason: 'rejected' }, s.lost.rejected],
        [{ ...of(s), reason: 'retries_exhausted' }, s.lost.retriesExhausted],
        [{ ...of(s), reason: 'shutdown' }, s.lost.shutdown],
      ]),
  );
  mirroredCounter(registry, { name: 'tollgate_sink_delivery_failures_total', help: 'Failed delivery attempts per logging sink (each retry counts).', labelNames }, () => source.sinks().map((s) => [of(s), s.failed]));
  new Gauge({
    name: 'tollgate_sink_queue_depth',
    help: 'Request records waiting in memory for each logging sink.',
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of source.sinks()) this.set(of(s), s.queueDepth);
    },
  });
}
