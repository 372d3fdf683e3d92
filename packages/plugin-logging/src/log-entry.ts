import { picoToUsd, type CompletionRecord, type Principal, type RouteKind } from '@tollgate/core';
import { costOf, errorTypeOf } from './record-view.js';

/**
 * One request as the file and webhook sinks write it: plain JSON (no bigint), camelCase like
 * the access log, absent fields left out. `costUsd` is an exact decimal string.
 */
export interface LogEntry {
  id: string;
  /** ISO time the request arrived. */
  time: string;
  method: string;
  path: string;
  provider: string;
  route: RouteKind;
  model?: string;
  responseModel?: string;
  responseId?: string;
  stream: boolean;
  status: number;
  aborted?: true;
  errorType?: string;
  error?: { code: string; type: string; message: string };
  principal?: Principal;
  endUser?: string;
  tags: string[];
  usage?: {
    inputTokens: number;
    outputTokens: number;
    cacheReadTokens: number;
    cacheWriteTokens: number;
    cacheWrite5mTokens: number;
    cacheWrite1hTokens: number;
    webSearchRequests: number;
    serviceTier?: string;
  };
  /** Exact USD (from the cost plugin's pico-dollars), e.g. "0.0035". */
  costUsd?: string;
  /** The cost plugin could not price the request (unknown model or usage option). */
  unpriced?: true;
  upstreamRequestId?: string;
  timings: CompletionRecord['timings'];
  requestBody?: string;
  requestBodyTruncated?: true;
  responseBody?: string;
  responseBodyTruncated?: true;
}

/** Builds the exported object of one request. */
export function toLogEntry(r: CompletionRecord): LogEntry {
  const cost = costOf(r);
  const logging = r.state.logging;
  const u = r.usage;
  return {
    id: r.id,
    time: new Date(r.timings.start).toISOString(),
    method: r.method,
    path: r.path,
    provider: r.provider,
    route: r.routeKind,
    model: r.model,
    responseModel: r.response?.model,
    responseId: r.response?.id,
    stream: r.stream,
    status: r.status,
    aborted: r.aborted || undefined,
    errorType: errorTypeOf(r),
    error: r.error,
    principal: r.principal && { ...r.principal },
    endUser: r.endUser,
    tags: r.tags,
    usage: u && {
      inputTokens: u.inputTokens,
      outputTokens: u.outputTokens,
      cacheReadTokens: u.cacheReadTokens,
      cacheWriteTokens: u.cacheWriteTokens,
      cacheWrite5mTokens: u.cacheWrite5mTokens,
      cacheWrite1hTokens: u.cacheWrite1hTokens,
      webSearchRequests: u.webSearchRequests,
      serviceTier: u.serviceTier,
    },
    costUsd: cost && 'pico' in cost ? picoToUsd(cost.pico) : undefined,
    unpriced: cost && 'unpriced' in cost ? true : undefined,
    upstreamRequestId: r.upstreamRequestId,
    timings: r.timings,
    requestBody: logging?.requestBody?.text,
    requestBodyTruncated: logging?.requestBody?.truncated || undefined,
    responseBody: logging?.responseBody?.text,
    responseBodyTruncated: logging?.responseBody?.truncated || undefined,
  };
}
