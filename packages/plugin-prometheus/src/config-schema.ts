/**
 * The `prometheus` plugin's options (under `plugins[].config`).
 *
 * @example
 * // plugins:
 * //   - use: '@tollgate/plugin-prometheus'
 * //     config: { requireKey: true, metricsKey: '${TOLLGATE_METRICS_KEY}' }
 */
export const prometheusConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    path: { type: 'string', pattern: '^/', default: '/metrics', description: 'Where the metrics are served (GET, Prometheus text format).' },
    requireKey: {
      type: 'boolean',
      default: false,
      description: 'Require a key to scrape: the metricsKey when one is set, or the master key (through the auth plugin). Off by default, as Prometheus expects.',
    },
    metricsKey: {
      type: ['string', 'null'],
      minLength: 1,
      default: null,
      description: 'A key only for scraping, sent as "Authorization: Bearer <key>" or x-api-key; setting it turns requireKey on. Prefer ${TOLLGATE_METRICS_KEY} over a literal.',
    },
    maxSeriesPerMetric: {
      type: 'integer',
      minimum: 1,
      default: 10000,
      description: 'Most label sets kept per metric; past it the least recently used set is dropped, so a flood of distinct end users or keys cannot exhaust memory.',
    },
    disableEndUserLabels: {
      type: 'boolean',
      default: false,
      description: 'Leave the end_user label off every metric. Prometheus only: the spend ledger, logs and reports still track end users.',
    },
    disableEndUserTracking: {
      type: 'boolean',
      default: false,
      description:
        'Turn end-user tracking off everywhere: the end user read from litellm_metadata.user or metadata.user_id is cleared right after the metadata step, so no ledger row, log line, sink or metric sees it. The request body still reaches the upstream unchanged.',
    },
    processMetrics: { type: 'boolean', default: true, description: "Also export prom-client's Node.js process metrics (process_*, nodejs_*)." },
  },
} as const;

/** The validated `prometheus` config, defaults applied. */
export interface PrometheusConfig {
  path: string;
  requireKey: boolean;
  metricsKey: string | null;
  maxSeriesPerMetric: number;
  disableEndUserLabels: boolean;
  disableEndUserTracking: boolean;
  processMetrics: boolean;
}
