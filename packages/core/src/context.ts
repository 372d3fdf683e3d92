import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { GatewayError } from './errors.js';

/**
 * Per-request plugin state. Each plugin augments it with its own key and writes only that key:
 *
 * @example
 * declare module '@tollgate/core' {
 *   interface RequestState { myPlugin?: { startedAt: number } }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface RequestState {}

export type RouteKind = 'messages' | 'count_tokens' | 'batches' | 'models' | 'other';

/** Who is calling, as the auth plugin established it. */
export interface Principal {
  kind: 'open' | 'master' | 'virtual';
  /** Hash of the key (never the key itself). */
  keyHash?: string;
  keyAlias?: string;
  userId?: string;
  teamId?: string;
}

/** Provider-neutral token usage. `raw` keeps the provider's own object. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  /** All cache writes; equals cacheWrite5mTokens + cacheWrite1hTokens. */
  cacheWriteTokens: number;
  cacheWrite5mTokens: number;
  cacheWrite1hTokens: number;
  webSearchRequests: number;
  serviceTier?: string;
  inferenceGeo?: string;
  speed?: string;
  raw: Record<string, unknown>;
}

export interface RouteInfo {
  provider: string;
  kind: RouteKind;
  /** The path (and query) sent upstream, below the provider's base URL. */
  upstreamPath: string;
  model?: string;
  /** Every model the request asks for: one for a message, each distinct one of a batch. */
  models: string[];
  stream: boolean;
}

/** The client's request as plugins see it. */
export interface GatewayRequest {
  readonly method: string;
  /** Gateway path without the query string. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The body bytes that will be forwarded. */
  body: Buffer;
  /** The body parsed as JSON (cached); throws a 400 GatewayError when it is not JSON. */
  json(): unknown;
  /** Replaces the forwarded body with this value serialized as JSON. */
  setJson(value: unknown): void;
}

/** The upstream call, editable in `beforeUpstream`. */
export interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: Buffer | null;
}

export interface UpstreamResponseHead {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** What the provider said about its response: its id (Anthropic: the message id) and the model that answered. */
export interface ResponseInfo {
  id?: string;
  model?: string;
}

/** One try of a request on one upstream of a pool. */
export interface UpstreamAttempt {
  upstream: string;
  /** The upstream's status; absent when it never answered. */
  status?: number;
  /** The gateway error code when it never answered (connection error, timeout). */
  error?: string;
}

/** One server-sent event as it crossed the wire. `data` is the raw string. */
export interface SseEvent {
  event: string;
  data: string;
}

/** Everything a hook gets about one request. */
export interface RequestContext {
  readonly id: string;
  /** A child logger bound to `reqId`, created on first use. */
  readonly log: Logger;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds at arrival. */
  readonly startTime: number;
  readonly request: GatewayRequest;
  route: RouteInfo;
  principal?: Principal;
  endUser?: string;
  tags: string[];
  usage?: Usage;
  /** From the response body or a stream's first event, set by core before `onComplete`. */
  response?: ResponseInfo;
  /** The name of the pool upstream the request went to (the last one tried). */
  upstream?: string;
  /** Every try, when there was more than one (failover). */
  attempts?: UpstreamAttempt[];
  state: RequestState;
  readonly raw: { req: IncomingMessage; res: ServerResponse };
}

const NOT_PARSED = Symbol('not parsed');

export class ClientRequest implements GatewayRequest {
  private parsed: unknown = NOT_PARSED;
  constructor(
    readonly method: string,
    readonly path: string,
    readonly headers: IncomingHttpHeaders,
    public body: Buffer,
  ) {}

  json(): unknown {
    if (this.parsed !== NOT_PARSED) return this.parsed;
    try {
      this.parsed = this.body.length === 0 ? undefined : JSON.parse(this.body.toString('utf8'));
    } catch (err) {
      throw new GatewayError('TG_ERR_INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`);
    }
    return this.parsed;
  }

  setJson(value: unknown): void {
    this.parsed = value;
    this.body = Buffer.from(JSON.stringify(value));
  }
}

export class Context implements RequestContext {
  principal?: Principal;
  endUser?: string;
  tags: string[] = [];
  usage?: Usage;
  response?: ResponseInfo;
  upstream?: string = undefined;
  attempts?: UpstreamAttempt[] = undefined;
  state: RequestState = {};
  route: RouteInfo;
  readonly raw: { req: IncomingMessage; res: ServerResponse };
  readonly startTime = Date.now();
  /** True once the client went away (or shutdown cut the request). */
  aborted = false;
  /** Core's own abort listener (the upstream call); plugins use `signal`. */
  onAbort: (() => void) | undefined;
  /** Its place in the gateway's InFlight list; -1 when not in it. */
  inFlightSlot = -1;
  private controller?: AbortController;
  /** performance.now() at arrival; timings are measured on this clock. */
  readonly t0 = performance.now();
  private logger?: Logger;

  constructor(
    readonly id: string,
    private readonly baseLog: Logger,
    readonly request: ClientRequest,
    req: IncomingMessage,
    res: ServerResponse,
    route: RouteInfo,
  ) {
    this.raw = { req, res };
    this.route = route;
  }

  /** Created on first use: most requests never need one. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.controller?.abort();
    this.onAbort?.();
  }

  get log(): Logger {
    this.logger ??= this.baseLog.child({ reqId: this.id });
    return this.logger;
  }
}
