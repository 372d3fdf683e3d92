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
      type: ['boolean', 'null'],
      default: null,
      description:
        'Who may scrape. Unset (the default): the metricsKey or the master key (through the auth plugin) whenever either exists, and anyone only when the gateway has neither (a warning is logged). true: always a key (boot fails without a metricsKey or an auth plugin). false: anyone who can reach the gateway (opt out, e.g. when only Prometheus can reach this port).',
    },
    metricsKey: {
      type: ['string', 'null'],
      minLength: 1,
      default: null,
      description: 'A key only for scraping, sent as "Authorization: Bearer <key>" or x-api-key; setting it requires a key whatever requireKey says. Prefer ${TOLLGATE_METRICS_KEY} over a literal.',
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
  requireKey: boolean | null;
  metricsKey: string | null;
  maxSeriesPerMetric: number;
  disableEndUserLabels: boolean;
  disableEndUserTracking: boolean;
  processMetrics: boolean;
}
