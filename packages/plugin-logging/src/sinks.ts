import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from '@tollgate/core';
import type { FileSinkConfig, OtlpSinkConfig, WebhookSinkConfig } from './config-schema.js';
import { postJson } from './delivery.js';
import type { Sink } from './export-queue.js';
import { toLogEntry } from './log-entry.js';
import { otlpTraceRequest } from './otlp.js';

/**
 * OTLP over HTTP with the JSON encoding: one ExportTraceServiceRequest per batch to
 * `<endpoint>/v1/traces`. A partial success (some spans rejected) is logged, not retried:
 * the receiver said those spans will never be accepted.
 */
export function createOtlpSink(config: OtlpSinkConfig, log: Logger): Sink {
  const url = tracesUrl(config.endpoint);
  const resource = { serviceName: config.serviceName, attributes: config.resourceAttributes };
  return {
    type: 'otlp',
    encode: (records) => JSON.stringify(otlpTraceRequest(records, resource)),
    async deliver(payload, signal) {
      const text = await postJson(url, payload, { headers: config.headers, timeoutMs: config.timeoutMs, signal });
      const rejected = rejectedSpans(text);
      if (rejected) log.warn({ rejectedSpans: rejected.count, message: rejected.message }, 'OTLP receiver rejected some spans');
    },
  };
}

/** A JSON-lines file: one object per request, appended batch by batch. */
export function createFileSink(config: FileSinkConfig, baseDir: string): Sink {
  const path = resolve(baseDir, config.path);
  let dirReady = false;
  return {
    type: 'file',
    encode: (records) => records.map((r) => `${JSON.stringify(toLogEntry(r))}\n`).join(''),
    async deliver(payload) {
      if (!dirReady) {
        await mkdir(dirname(path), { recursive: true });
        dirReady = true;
      }
      // Opened per batch, so an external log rotation (rename) is picked up at the next one.
      await appendFile(path, payload, 'utf8');
    },
  };
}

/** An HTTP endpoint that receives each batch as a JSON array of request objects. */
export function createWebhookSink(config: WebhookSinkConfig): Sink {
  return {
    type: 'webhook',
    encode: (records) => JSON.stringify(records.map(toLogEntry)),
    async deliver(payload, signal) {
      await postJson(config.url, payload, { headers: config.headers, timeoutMs: config.timeoutMs, signal });
    },
  };
}

function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

function rejectedSpans(text: string): { count: number; message?: string } | undefined {
  if (!text) return undefined;
  let body: { partialSuccess?: { rejectedSpans?: unknown; errorMessage?: unknown } };
  try {
    body = JSON.parse(text);
  } catch {
    // Some receivers answer 200 with an empty or non-JSON body: that is a full success.
    return undefined;
  }
  const count = Number(body?.partialSuccess?.rejectedSpans ?? 0);
  if (!(count > 0)) return undefined;
  const message = body.partialSuccess?.errorMessage;
  return { count, message: typeof message === 'string' ? message : undefined };
}
