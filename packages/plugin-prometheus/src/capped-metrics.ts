import { picoToNumber, type Pico } from '@tollgate/core';
import { Counter, type Metric, type Registry } from 'prom-client';
import type { Labels } from './labels.js';
import { SeriesCap } from './series-cap.js';

interface MetricSpec {
  name: string;
  help: string;
  labelNames: readonly string[];
}

/**
 * Adds `value` to the series under `group` (the principal's label values) and `key` (the
 * metric's own); `labels` is called only for a new series.
 */
export type Update<T> = (group: string, key: string, labels: () => Labels, value: T) => void;

/**
 * Per-request metrics whose label sets are capped per metric (least recently used out); what
 * the caps evict is counted in `tollgate_metric_series_evicted_total{metric}`. The series live
 * in the caps and are handed to the registry when scraped, so recording a request costs one
 * map lookup per metric and allocates nothing for a series that exists.
 */
export class CappedMetrics {
  private readonly evictions: Counter<'metric'>;

  constructor(
    private readonly registry: Registry,
    private readonly maxSeries: number,
  ) {
    this.evictions = new Counter({
      name: 'tollgate_metric_series_evicted_total',
      help: 'Label sets dropped by the per-metric series cap (maxSeriesPerMetric), least recently used first.',
      labelNames: ['metric'],
      registers: [registry],
    });
  }

  counter(spec: MetricSpec): Update<number> {
    const cap = this.cap<number>(spec.name);
    this.exposeCounter(spec, cap, (v) => v);
    return (group, key, labels, value) => {
      cap.touch(group, key, labels, 0).value += value;
    };
  }

  /**
   * A USD counter summed exactly: each series holds integer pico-dollars, turned into a float
   * only when scraped, so no rounding error accumulates however many requests it counts.
   */
  usdCounter(spec: MetricSpec): Update<Pico> {
    const cap = this.cap<Pico>(spec.name);
    this.exposeCounter(spec, cap, picoToNumber);
    return (group, key, labels, pico) => {
      cap.touch(group, key, labels, 0n).value += pico;
    };
  }

  histogram(spec: MetricSpec & { buckets: number[] }): Update<number> {
    const cap = this.cap<HistogramSeries>(spec.name);
    const bounds = spec.buckets;
    this.registry.registerMetric(new CappedHistogram(spec, cap) as unknown as Metric);
    const empty = (): HistogramSeries => ({ counts: new Array<number>(bounds.length).fill(0), sum: 0, count: 0 });
    return (group, key, labels, value) => {
      const s = cap.touch(group, key, labels, empty).value;
      let i = 0;
      while (i < bounds.length && value > bounds[i]) i++;
      if (i < bounds.length) s.counts[i]++;
      s.sum += value;
      s.count++;
    };
  }

  private exposeCounter<V>(spec: MetricSpec, cap: SeriesCap<V>, toNumber: (v: V) => number): void {
    new Counter({
      ...spec,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of cap.values()) this.inc(s.labels, toNumber(s.value));
      },
    });
  }

  private cap<V>(name: string): SeriesCap<V> {
    const metric = { metric: name };
    return new SeriesCap<V>(this.maxSeries, () => this.evictions.inc(metric));
  }
}

interface HistogramSeries {
  /** Observations per bucket (not cumulative); above the last bound only in `count`. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram over capped series, in the shape prom-client's registry reads from any metric
 * (`get()` → name, help, type and values): `_bucket` (cumulative, `le`), `_sum` and `_count`.
 */
class CappedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bounds: number[];

  constructor(
    spec: MetricSpec & { buckets: number[] },
    private readonly cap: SeriesCap<HistogramSeries>,
  ) {
    this.name = spec.name;
    this.help = spec.help;
    this.bounds = spec.buckets;
  }

  get() {
    const bucket = `${this.name}_bucket`;
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const { labels, value: s } of this.cap.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i];
        values.push({ metricName: bucket, labels: { ...labels, le: this.bounds[i] }, value: acc });
      }
      values.push({ metricName: bucket, labels: { ...labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** What `registry.resetMetrics()` calls. */
  reset(): void {
    this.cap.clear();
  }
}
