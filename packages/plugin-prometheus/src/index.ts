export { prometheusPlugin as default, prometheusPlugin } from './plugin.js';
export { prometheusConfigSchema, type PrometheusConfig } from './config-schema.js';
