import type { IncomingHttpHeaders } from 'node:http';
import type { RequestLimits } from './config-schema.js';
import type { RequestContext, ResponseInfo, RouteKind, SseEvent, Usage } from './context.js';

/** What core reads from a non-streaming response body. */
export interface ResponseSummary {
  usage?: Usage;
  response: ResponseInfo;
}

/** Reads usage (and errors) from a stream one event at a time, in O(1) memory. */
export interface StreamUsageTap {
  onEvent(event: SseEvent): void;
  /** The usage so far (partial for aborted or failed streams). */
  usage(): Usage | undefined;
  /** The response's id and model, once the stream has said them. */
  response(): ResponseInfo | undefined;
  /** The error an `error` event reported, if any. */
  error(): { type: string; message: string } | undefined;
}

/**
 * A provider described as data plus pure functions. The pipeline never names a provider:
 * adding one is a new adapter, not a change to core.
 */
export interface ProviderAdapter {
  readonly name: string;
  /** Where the provider is mounted on the gateway, e.g. `/anthropic`. */
  readonly mountPath: string;
  /** The upstream origin, e.g. `https://api.anthropic.com`. */
  readonly origin: string;
  /** A path prefix of the upstream base URL ('' when none). */
  readonly basePath: string;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Most upstream connections; null for no limit. */
  readonly connections: number | null;
  /** Route class of a path below the mount (query excluded). */
  classify(method: string, path: string): RouteKind;
  /**
   * Whether the gateway must read this request's body (it is JSON the adapter reads in
   * `prepare`). Other bodies that are not JSON (file uploads) stream straight to the upstream,
   * unbuffered. Absent: every body is read.
   */
  readsBody?(ctx: RequestContext): boolean;
  /**
   * Reads model, stream flag and attribution from the body; strips gateway-only fields. May
   * return a promise (a large body is read in slices, between turns of the event loop).
   */
  prepare(ctx: RequestContext, limits: RequestLimits): void | Promise<void>;
  /** The headers to send upstream: client credentials and hop-by-hop removed, upstream key added. */
  upstreamHeaders(clientHeaders: IncomingHttpHeaders, ctx: RequestContext): Record<string, string | string[]>;
  /**
   * Headers for a request the gateway makes on its own, with no client behind it (a plugin's
   * background job): the upstream credential and the API version.
   */
  ownRequestHeaders(): Record<string, string>;
  /** Usage, response id and model from a parsed non-streaming JSON response body. */
  summarizeJson(body: unknown): ResponseSummary;
  /**
   * The top-level keys `summarizeJson` reads. When given, a relayed response is not parsed
   * whole: only these members are, and `summarizeJson` gets an object of them alone.
   */
  readonly summaryKeys?: ReadonlySet<string>;
  createStreamTap(): StreamUsageTap;
  /** Whether an SSE event is the first generated content (time to first token). */
  isContentEvent(event: SseEvent): boolean;
  /** Whether a successful response is JSON lines (batch results), read line by line for `onChunk`. */
  isJsonLines(ctx: RequestContext): boolean;
  /** Whether a successful JSON response on this route must be rewritten before the client sees it. */
  rewritesResponse(ctx: RequestContext): boolean;
  /** Rewrites a response body (e.g. a batch's results_url) to point at the gateway. */
  rewriteResponse(body: unknown, gatewayBase: string): unknown;
}
