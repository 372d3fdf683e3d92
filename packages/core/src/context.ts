import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ClientInfo } from './client-identity.js';
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

/**
 * Who pays the upstream for a request: the gateway's own upstream key, the client's own API
 * key, or the client's own subscription (an OAuth token). Either way usage is booked at the
 * API price.
 */
export type Billing = 'gateway' | 'client_key' | 'subscription';

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
  /** The models the caller may use, set by an auth plugin for a key with a list; model lists are filtered to it, and any other model is not found. */
  allowedModels?: readonly string[];
}

/** The client's request as plugins see it. */
export interface GatewayRequest {
  readonly method: string;
  /** Gateway path without the query string. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * The body bytes that will be forwarded. Empty in `onRequestHeaders` (not read yet), and
   * for bodies the gateway streams through unread (file uploads: see `streamed`).
   */
  body: Buffer;
  /** True when the body goes to the upstream as it arrives, unread (never in `body`). */
  readonly streamed: boolean;
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
  /** The bytes read, or, for a body streamed through unread (`request.streamed`), its chunks. */
  body: Buffer | AsyncIterable<Buffer> | null;
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
  /** Session, agent and client program, as the request told them (never metric labels: unbounded). */
  client: ClientInfo;
  /** Set by the auth plugin when the client's own credential goes upstream; 'gateway' otherwise. */
  billing: Billing;
  /**
   * True when this request's spend is booked but left out of budgets: the auth plugin sets it
   * for a client's own credential on a key whose budget does not count such spend. False otherwise.
   */
  budgetExempt: boolean;
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
  /**
   * Asks core to hold this request's response back when it is a whole (non-streaming) JSON
   * message, and to pass it to `onResponseBody` before the client gets the headers. Call it
   * from a request-side hook or `onResponseHeaders`, only when the plugin needs the body on
   * this request: a response held back reaches the client only once it has fully arrived.
   */
  holdResponseBody(): void;
}

const NOT_PARSED = Symbol('not parsed');

export class ClientRequest implements GatewayRequest {
  private parsed: unknown = NOT_PARSED;
  streamed = false;
  constructor(
    readonly method: string,
    readonly path: string,
    readonly headers: IncomingHttpHeaders,
    private bytes: Buffer,
  ) {}

  get body(): Buffer {
    return this.bytes;
  }

  /** New bytes: what `json()` parsed no longer describes them. */
  set body(bytes: Buffer) {
    this.bytes = bytes;
    this.parsed = NOT_PARSED;
  }

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
    this.bytes = Buffer.from(JSON.stringify(value));
    this.parsed = value;
  }
}

export class Context implements RequestContext {
  principal?: Principal;
  endUser?: string;
  client: ClientInfo = {};
  billing: Billing = 'gateway';
  budgetExempt = false;
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
  /** Some plugin asked for this request's response body (`holdResponseBody`). */
  holdsResponse = false;
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

  holdResponseBody(): void {
    this.holdsResponse = true;
  }

  /** Created on first use: most requests never need one. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  /**
   * Set when the gateway itself cut the request (shutdown), not the client: the client is
   * still there and is told why (an SSE `error` event, or this error's status).
   */
  cutBy?: GatewayError;

  abort(cut?: GatewayError): void {
    if (this.aborted) return;
    this.aborted = true;
    this.cutBy = cut;
    this.controller?.abort();
    this.onAbort?.();
  }

  get log(): Logger {
    this.logger ??= this.baseLog.child({ reqId: this.id });
    return this.logger;
  }
}
