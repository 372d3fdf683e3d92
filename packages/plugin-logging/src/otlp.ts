import { randomBytes } from 'node:crypto';
import { picoToNumber, type CompletionRecord } from '@tollgate/core';
import { costOf, errorTypeOf } from './record-view.js';

/** OTLP/JSON AnyValue (64-bit integers as decimal strings, as the protobuf JSON mapping says). */
export type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean } | { arrayValue: { values: AnyValue[] } };

export interface KeyValue {
  key: string;
  value: AnyValue;
}

/** One span of an OTLP/JSON ExportTraceServiceRequest. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  status: { code: number; message?: string };
}

export interface OtlpResource {
  serviceName: string;
  attributes: Record<string, string>;
}

const SPAN_KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;
export const SCOPE_NAME = '@tollgate/plugin-logging';

/**
 * The OTLP/JSON body (`POST /v1/traces`) for a batch of requests: one resource, one scope,
 * one span per request.
 *
 * @example
 * const body = JSON.stringify(otlpTraceRequest(records, { serviceName: 'tollgate', attributes: {} }));
 */
export function otlpTraceRequest(records: readonly CompletionRecord[], resource: OtlpResource) {
  const resourceAttributes = new Attributes().str('service.name', resource.serviceName);
  for (const [key, value] of Object.entries(resource.attributes)) resourceAttributes.str(key, value);
  return {
    resourceSpans: [
      {
        resource: { attributes: resourceAttributes.list },
        scopeSpans: [{ scope: { name: SCOPE_NAME }, spans: records.map(toSpan) }],
      },
    ],
  };
}

/**
 * A request as a span with the OpenTelemetry GenAI semantic conventions. Following them,
 * `gen_ai.usage.input_tokens` includes cache reads and writes (Anthropic's `input_tokens`
 * does not: it is `tollgate.usage.uncached_input_tokens`).
 */
export function toSpan(r: CompletionRecord): OtlpSpan {
  const ids = randomBytes(24).toString('hex');
  const startNs = BigInt(r.timings.start) * 1_000_000n;
  const endNs = startNs + BigInt(Math.round(r.timings.durationMs * 1e6));
  const isChat = r.routeKind === 'messages';
  const errorType = errorTypeOf(r);
  const a = new Attributes()
    .str('gen_ai.provider.name', r.provider)
    .str('gen_ai.system', r.provider)
    .str('gen_ai.operation.name', isChat ? 'chat' : undefined)
    .str('gen_ai.request.model', r.model)
    .str('gen_ai.response.model', r.response?.model)
    .str('gen_ai.response.id', r.response?.id);
  usageAttributes(a, r);
  costAttributes(a, r);
  a.str('user.id', r.endUser)
    .str('enduser.id', r.endUser)
    .strs('tollgate.tags', r.tags)
    .str('tollgate.key.kind', r.principal?.kind)
    .str('tollgate.key.alias', r.principal?.keyAlias)
    .str('tollgate.key.hash', r.principal?.keyHash)
    .str('tollgate.key.user_id', r.principal?.userId)
    .str('tollgate.key.team_id', r.principal?.teamId)
    .str('tollgate.request.id', r.id)
    .str('tollgate.route', r.routeKind)
    .bool('tollgate.stream', r.stream)
    .str('http.request.method', r.method)
    .str('url.path', r.path)
    .int('http.response.status_code', r.status)
    .str('tollgate.upstream.request_id', r.upstreamRequestId)
    .str('error.type', errorType)
    .str('tollgate.error.code', r.error?.code)
    .bool('tollgate.aborted', r.aborted || undefined)
    .dbl('tollgate.upstream_ms', r.timings.upstreamMs)
    .dbl('tollgate.ttfb_ms', r.timings.ttfbMs)
    .dbl('tollgate.first_token_ms', r.timings.firstTokenMs)
    .dbl('tollgate.overhead_ms', r.timings.overheadMs);
  const bodies = r.state.logging;
  a.str('tollgate.request.body', bodies?.requestBody?.text)
    .bool('tollgate.request.body_truncated', bodies?.requestBody?.truncated || undefined)
    .str('tollgate.response.body', bodies?.responseBody?.text)
    .bool('tollgate.response.body_truncated', bodies?.responseBody?.truncated || undefined);
  return {
    traceId: ids.slice(0, 32),
    spanId: ids.slice(32),
    name: isChat ? `chat ${r.model ?? 'unknown'}` : `${r.method} ${r.routeKind}`,
    kind: SPAN_KIND_CLIENT,
    startTimeUnixNano: startNs.toString(),
    endTimeUnixNano: endNs.toString(),
    attributes: a.list,
    status: errorType === undefined ? { code: STATUS_UNSET } : { code: STATUS_ERROR, message: r.error?.message ?? `HTTP ${r.status}` },
  };
}

function usageAttributes(a: Attributes, r: CompletionRecord): void {
  const u = r.usage;
  if (!u) return;
  a.int('gen_ai.usage.input_tokens', u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens)
    .int('gen_ai.usage.output_tokens', u.outputTokens)
    .int('gen_ai.usage.cache_read.input_tokens', u.cacheReadTokens)
    .int('gen_ai.usage.cache_creation.input_tokens', u.cacheWriteTokens)
    .int('tollgate.usage.uncached_input_tokens', u.inputTokens)
    .int('tollgate.usage.cache_write_5m_tokens', u.cacheWrite5mTokens)
    .int('tollgate.usage.cache_write_1h_tokens', u.cacheWrite1hTokens)
    .int('tollgate.usage.web_search_requests', u.webSearchRequests)
    .str('tollgate.usage.service_tier', u.serviceTier);
}

function costAttributes(a: Attributes, r: CompletionRecord): void {
  const cost = costOf(r);
  if (!cost) return;
  if ('unpriced' in cost) {
    a.bool('tollgate.cost.unpriced', true);
    return;
  }
  // The double is for dashboards; the integer pico-dollars are the exact amount.
  a.dbl('tollgate.cost.usd', picoToNumber(cost.pico)).bigint('tollgate.cost.pico_usd', cost.pico);
}

/** Builds an OTLP attribute list, skipping absent values. */
class Attributes {
  readonly list: KeyValue[] = [];

  str(key: string, value: string | undefined): this {
    if (value !== undefined) this.list.push({ key, value: { stringValue: value } });
    return this;
  }

  strs(key: string, values: readonly string[]): this {
    if (values.length > 0) this.list.push({ key, value: { arrayValue: { values: values.map((v) => ({ stringValue: v })) } } });
    return this;
  }

  int(key: string, value: number | undefined): this {
    if (value !== undefined) this.list.push({ key, value: { intValue: String(Math.trunc(value)) } });
    return this;
  }

  bigint(key: string, value: bigint): this {
    this.list.push({ key, value: { intValue: value.toString() } });
    return this;
  }

  dbl(key: string, value: number | undefined): this {
    if (value !== undefined) this.list.push({ key, value: { doubleValue: value } });
    return this;
  }

  bool(key: string, value: boolean | undefined): this {
    if (value !== undefined) this.list.push({ key, value: { boolValue: value } });
    return this;
  }
}
