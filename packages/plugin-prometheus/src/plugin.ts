import { ADMIN_GUARD, definePlugin, GatewayError, KEY_LIMITS, SINK_STATS, SPEND_QUEUE, UPSTREAM_STATS, type BookedSpend, type CompletionRecord, type SpendDrift } from '@tollgate/core';
import { DriftMetrics } from './drift-metrics.js';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { prometheusConfigSchema, type PrometheusConfig } from './config-schema.js';
import { KeyGauges } from './key-gauges.js';
import { metricsHandler, type MetricsAccess } from './metrics-route.js';
import { RequestMetrics } from './request-metrics.js';
import { registerSinkMetrics, registerSpendQueueMetrics } from './source-metrics.js';
import { registerUpstreamMetrics } from './upstream-metrics.js';

declare module '@tollgate/core' {
  interface RequestState {
    /** Set while the request counts in tollgate_in_flight_requests. */
    prometheus?: { inFlight: true };
  }
}

const IN_FLIGHT = Object.freeze({ inFlight: true as const });

/**
 * `GET /metrics` for Prometheus: traffic, tokens, spend, latency, errors, key budgets and
 * limits, the spend ledger's queue and the logging sinks, in a registry of this gateway's own.
 * Per-request metrics come from the `request:complete` event, after the response has gone:
 * the exporter never adds work to a request. Its hooks only count requests in flight and,
 * when asked, clear the end user; priority 750 puts them right after the metadata step (800)
 * and before policy (700).
 *
 * @example
 * // plugins:
 * //   - use: '@tollgate/plugin-prometheus'
 */
export const prometheusPlugin = definePlugin<PrometheusConfig>({
  name: 'prometheus',
  priority: 750,
  configSchema: prometheusConfigSchema,
  setup(api) {
    const c = api.config;
    const registry = new Registry();
    if (c.processMetrics) collectDefaultMetrics({ register: registry });
    const inFlight = new Gauge({ name: 'tollgate_in_flight_requests', help: 'Requests past auth and metadata that have not completed.', registers: [registry] });
    const requests = new RequestMetrics(registry, { maxSeries: c.maxSeriesPerMetric, endUserLabels: !c.disableEndUserLabels && !c.disableEndUserTracking });
    let keys: KeyGauges | undefined;
    let access: MetricsAccess = { required: false };

    const onRecord = (r: CompletionRecord): void => {
      try {
        requests.record(r);
        if (keys && r.principal?.kind === 'virtual' && r.principal.keyHash) keys.seen(r.principal.keyHash);
      } catch (err) {
        api.log.error({ err, reqId: r.id }, 'could not record the request in the metrics');
      }
    };
    const onBooked = (b: BookedSpend): void => {
      try {
        requests.booked(b);
      } catch (err) {
        api.log.error({ err }, 'could not record booked spend in the metrics');
      }
    };
    const drift = new DriftMetrics(registry);
    const onReconciled = (lines: SpendDrift[]): void => drift.record(lines);
    api.events.on('request:complete', onRecord);
    api.events.on('spend:booked', onBooked);
    api.events.on('spend:reconciled', onReconciled);
    api.onClose(() => {
      api.events.off('request:complete', onRecord);
      api.events.off('spend:booked', onBooked);
      api.events.off('spend:reconciled', onReconciled);
    });
    api.route('GET', c.path, metricsHandler(registry, () => access));

    api.onReady(() => {
      // Providers may be set up after this plugin: resolve them once every plugin is.
      if (api.has(KEY_LIMITS)) keys = new KeyGauges(registry, api.resolve(KEY_LIMITS), c.maxSeriesPerMetric);
      if (api.has(SPEND_QUEUE)) registerSpendQueueMetrics(registry, api.resolve(SPEND_QUEUE));
      if (api.has(SINK_STATS)) registerSinkMetrics(registry, api.resolve(SINK_STATS));
      if (api.has(UPSTREAM_STATS)) registerUpstreamMetrics(registry, api.resolve(UPSTREAM_STATS));
      const guard = api.has(ADMIN_GUARD) ? api.resolve(ADMIN_GUARD) : undefined;
      // Metrics name every key's alias, end users and spend: protected whenever there is a
      // credential to protect them with, unless the config opts out.
      const required = c.metricsKey !== null || (c.requireKey ?? guard !== undefined);
      access = { required, metricsKey: c.metricsKey ?? undefined, guard };
      if (required && !c.metricsKey && !guard) {
        throw new GatewayError('TG_ERR_CONFIG', 'prometheus.requireKey needs a metricsKey or an auth plugin with a master key');
      }
      if (!required && c.requireKey === null) {
        api.log.warn(`OPEN METRICS: ${c.path} is served to anyone (no metricsKey and no auth plugin); set metricsKey, or requireKey: false to say it is meant`);
      }
    });

    return {
      onRequest(ctx) {
        if (c.disableEndUserTracking) ctx.endUser = undefined;
        ctx.state.prometheus = IN_FLIGHT;
        inFlight.inc();
      },
      onComplete(ctx) {
        if (ctx.state.prometheus !== IN_FLIGHT) return;
        inFlight.dec();
      },
    };
  },
});
