export { loggingPlugin, loggingPlugin as default } from './plugin.js';
export { loggingConfigSchema, type LoggingConfig, type OtlpSinkConfig, type FileSinkConfig, type WebhookSinkConfig, type CaptureConfig, type DeliveryConfig } from './config-schema.js';
export { toLogEntry, type LogEntry } from './log-entry.js';
export { otlpTraceRequest, toSpan, type OtlpSpan, type OtlpResource, type KeyValue, type AnyValue } from './otlp.js';
export { ExportQueue, type Sink, type ExportQueueOptions } from './export-queue.js';
export { DeliveryError } from './delivery.js';
export type { LoggingState, CapturedBody } from './record-view.js';
