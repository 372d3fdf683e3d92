import type { RouteKind } from '@tollgate/core';

export const ROUTE_KINDS: readonly RouteKind[] = ['messages', 'count_tokens', 'batches', 'models', 'other'];

const routeKinds = (description: string, defaults: readonly RouteKind[]) => ({
  type: 'array',
  items: { enum: ROUTE_KINDS },
  uniqueItems: true,
  default: defaults,
  description,
});

const headers = {
  type: 'object',
  additionalProperties: { type: 'string' },
  default: {},
  description: 'Extra HTTP headers on every POST, e.g. the receiver\'s auth. Prefer ${ENV_VAR} over a literal secret.',
};

const timeoutMs = { type: 'integer', minimum: 1, default: 10000, description: 'Longest one POST may take (a hanging receiver counts as a failed attempt).' };

/** Batching, queueing and retry options every sink has. */
const delivery = {
  name: {
    type: 'string',
    minLength: 1,
    description: 'Name in logs and in the sink counters. Default: the sink type, then `-2`, `-3`… for further sinks of the same type.',
  },
  routes: routeKinds('Route kinds whose requests this sink receives.', ROUTE_KINDS),
  batchSize: { type: 'integer', minimum: 1, maximum: 10000, default: 100, description: 'Most records per delivery (one POST or one file append).' },
  flushIntervalMs: { type: 'integer', minimum: 1, default: 1000, description: 'Longest a record waits in memory before its batch is sent, when the batch does not fill first.' },
  maxQueue: {
    type: 'integer',
    minimum: 1,
    default: 2048,
    description:
      'Most records held in memory while the sink is slow or down (about 1.3 kB each: ~2.7 MB at the default, as in OpenTelemetry SDKs). When full, the oldest waiting record is dropped (counted and logged) to make room.',
  },
  maxAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 5, description: 'Delivery attempts per batch (the first one included) before the batch is dropped, counted and logged.' },
  retryBaseMs: { type: 'integer', minimum: 1, default: 500, description: 'Pause before the first retry; it doubles with each further retry (with jitter).' },
  retryMaxMs: { type: 'integer', minimum: 1, default: 30000, description: 'Longest pause between two attempts (also caps a receiver\'s Retry-After).' },
} as const;

const otlpSink = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoint'],
  properties: {
    ...delivery,
    endpoint: {
      type: 'string',
      pattern: '^https?://',
      description:
        'OTLP/HTTP base URL; spans are POSTed as JSON to <endpoint>/v1/traces (an endpoint already ending in /v1/traces is used as is). ' +
        'E.g. http://otel-collector:4318, https://cloud.langfuse.com/api/public/otel, https://api.honeycomb.io. Required.',
    },
    headers,
    timeoutMs,
    serviceName: { type: 'string', minLength: 1, default: 'tollgate', description: 'The resource attribute service.name.' },
    resourceAttributes: {
      type: 'object',
      additionalProperties: { type: 'string' },
      default: {},
      description: 'More resource attributes, e.g. { "deployment.environment": "prod" }.',
    },
  },
} as const;

const fileSink = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    ...delivery,
    path: { type: 'string', minLength: 1, description: 'JSON-lines file appended to (one object per request), relative to the config file. Its folder is created. Required.' },
  },
} as const;

const webhookSink = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    ...delivery,
    url: { type: 'string', pattern: '^https?://', description: 'Receives each batch as a POST of a JSON array of request objects. Required.' },
    headers,
    timeoutMs,
  },
} as const;

/**
 * The `logging` plugin's options (under `plugins[].config`).
 *
 * @example
 * // plugins:
 * //   - use: '@tollgate/plugin-logging'
 * //     config:
 * //       otlp: [{ endpoint: 'http://otel-collector:4318' }]
 * //       file: [{ path: 'logs/requests.jsonl' }]
 */
export const loggingConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    otlp: { type: 'array', items: otlpSink, default: [], description: 'OpenTelemetry receivers (OTLP over HTTP, JSON): one span per request with the GenAI semantic conventions.' },
    file: { type: 'array', items: fileSink, default: [], description: 'JSON-lines files.' },
    webhook: { type: 'array', items: webhookSink, default: [], description: 'HTTP endpoints that receive batches as JSON arrays.' },
    capture: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Request and response bodies in the exported records. Off by default: bodies hold prompts and answers.',
      properties: {
        routes: routeKinds('Route kinds whose bodies are captured. Empty: no capture.', []),
        request: { type: 'boolean', default: true, description: 'Capture the request body as forwarded upstream (litellm_metadata already removed by the gateway; its user and tags are in the record).' },
        response: {
          type: 'boolean',
          default: true,
          description:
            'Capture the response body of successful non-streaming messages (never of streams). Makes the gateway hold such bodies until complete before sending headers, as the cost plugin already does.',
        },
        maxBytes: { type: 'integer', minimum: 64, default: 16384, description: 'Longest captured body (bytes of UTF-8 JSON, after redaction); longer ones are cut and marked truncated.' },
        redactPaths: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description:
            'Dot paths replaced by "[redacted]" in captured bodies; `*` matches any key or array index, `[n]`/`[*]` work too. E.g. "system", "messages.*.content". ' +
            'Fields named api_key, apiKey, authorization or x-api-key are redacted wherever they appear, always.',
        },
      },
    },
    shutdownTimeoutMs: {
      type: 'integer',
      minimum: 0,
      default: 5000,
      description: 'At shutdown, longest the sinks may take to deliver what is still queued (never past the end of server.shutdownGraceMs); what remains then is dropped, counted and logged.',
    },
  },
} as const;

/** Batching, queueing and retry options of one sink, defaults applied. */
export interface DeliveryConfig {
  name?: string;
  routes: RouteKind[];
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface OtlpSinkConfig extends DeliveryConfig {
  endpoint: string;
  headers: Record<string, string>;
  timeoutMs: number;
  serviceName: string;
  resourceAttributes: Record<string, string>;
}

export interface FileSinkConfig extends DeliveryConfig {
  path: string;
}

export interface WebhookSinkConfig extends DeliveryConfig {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface CaptureConfig {
  routes: RouteKind[];
  request: boolean;
  response: boolean;
  maxBytes: number;
  redactPaths: string[];
}

/** The validated `logging` config, defaults applied. */
export interface LoggingConfig {
  otlp: OtlpSinkConfig[];
  file: FileSinkConfig[];
  webhook: WebhookSinkConfig[];
  capture: CaptureConfig;
  shutdownTimeoutMs: number;
}
