import { definePlugin, GatewayError, SINK_STATS, type CompletionRecord, type Logger, type PluginHooks, type RequestContext } from '@tollgate/core';
import { captureBody, captureRequest, isCaptureOn, parsePath } from './capture.js';
import { loggingConfigSchema, type CaptureConfig, type DeliveryConfig, type LoggingConfig } from './config-schema.js';
import { ExportQueue, type Sink } from './export-queue.js';
import type { LoggingState } from './record-view.js';
import { createFileSink, createOtlpSink, createWebhookSink } from './sinks.js';

/**
 * Sends every completed request to the sinks teams already run: OpenTelemetry (OTLP/HTTP
 * JSON, GenAI semantic conventions), a JSON-lines file, an HTTP webhook. A subscriber of
 * `request:complete`, never a link in the chain: the listener only enqueues; batching,
 * retries and drops happen off the request path. Counters are provided as SINK_STATS.
 *
 * @example
 * // plugins:
 * //   - use: '@tollgate/plugin-logging'
 * //     config:
 * //       otlp: [{ endpoint: 'https://cloud.langfuse.com/api/public/otel', headers: { authorization: 'Basic ${LANGFUSE_AUTH}' } }]
 * //       file: [{ path: 'logs/requests.jsonl' }]
 */
export const loggingPlugin = definePlugin<LoggingConfig>({
  name: 'logging',
  priority: 50,
  configSchema: loggingConfigSchema,
  setup(api) {
    const queues = createQueues(api.config, api.log, api.gatewayConfig.baseDir ?? process.cwd());
    if (queues.length === 0) api.log.warn('the logging plugin has no sinks (otlp, file, webhook): nothing will be exported');
    const onRecord = (record: CompletionRecord): void => {
      for (const q of queues) q.push(record);
    };
    api.events.on('request:complete', onRecord);
    api.provide(SINK_STATS, { sinks: () => queues.map((q) => q.stats()) });
    api.onClose(async ({ deadline }) => {
      api.events.off('request:complete', onRecord);
      // Never past the gateway's shutdown deadline: what is still queued then is dropped.
      const ms = Math.max(0, Math.min(api.config.shutdownTimeoutMs, deadline - Date.now()));
      await Promise.all(queues.map((q) => q.close(ms)));
      api.log.info({ sinks: queues.map((q) => q.stats()) }, 'export sinks flushed');
    });
    return queues.length === 0 ? {} : requestHooks(api.config.capture);
  },
});

function createQueues(config: LoggingConfig, log: Logger, baseDir: string): ExportQueue[] {
  config.otlp.forEach((c, i) => refuseCredentials(c.endpoint, `otlp[${i}].endpoint`));
  config.webhook.forEach((c, i) => refuseCredentials(c.url, `webhook[${i}].url`));
  const entries: { config: DeliveryConfig; type: string; sink: Sink }[] = [
    ...config.otlp.map((c) => ({ config: c, type: 'otlp', sink: createOtlpSink(c, log) })),
    ...config.file.map((c) => ({ config: c, type: 'file', sink: createFileSink(c, baseDir) })),
    ...config.webhook.map((c) => ({ config: c, type: 'webhook', sink: createWebhookSink(c) })),
  ];
  const seen = new Map<string, number>();
  const names = new Set<string>();
  return entries.map(({ config: c, type, sink }) => {
    const n = (seen.get(type) ?? 0) + 1;
    seen.set(type, n);
    const name = c.name ?? (n === 1 ? type : `${type}-${n}`);
    if (names.has(name)) throw new GatewayError('TG_ERR_CONFIG', `logging: two sinks are named "${name}"; give each a distinct name`);
    names.add(name);
    return new ExportQueue({ ...c, name, sink, log });
  });
}

/**
 * A sink URL with user:password in it never delivers (fetch refuses such URLs) and would carry
 * the password into every delivery error logged: refused at boot, without echoing it.
 */
function refuseCredentials(url: string, field: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GatewayError('TG_ERR_CONFIG', `logging: ${field} is not a URL`);
  }
  if (parsed.username || parsed.password) {
    throw new GatewayError('TG_ERR_CONFIG', `logging: ${field} has credentials in it; send them in the sink's headers (e.g. authorization) instead`);
  }
}

/**
 * Per-request hooks, only when capture is on: the bodies. Responses are held back (and passed
 * to `onResponseBody`) only on the routes response capture covers. (The response id and model
 * come with the record, from core.)
 */
function requestHooks(capture: CaptureConfig): PluginHooks {
  const hooks: PluginHooks = {};
  if (!isCaptureOn(capture)) return hooks;
  const state = (ctx: RequestContext): LoggingState => (ctx.state.logging ??= {});
  const routes = new Set(capture.routes);
  const paths = capture.redactPaths.map(parsePath);
  if (capture.request) {
    hooks.onComplete = (ctx) => {
      if (!routes.has(ctx.route.kind)) return;
      const body = captureRequest(ctx, paths, capture.maxBytes);
      if (body) state(ctx).requestBody = body;
    };
  }
  if (capture.response) {
    hooks.onRequest = (ctx) => {
      if (routes.has(ctx.route.kind)) ctx.holdResponseBody();
    };
    hooks.onResponseBody = (ctx, _head, body) => {
      if (!routes.has(ctx.route.kind)) return;
      state(ctx).responseBody = captureBody(body, paths, capture.maxBytes);
    };
  }
  return hooks;
}
