import type { Principal, RequestState, ResponseInfo, RouteKind, UpstreamAttempt, Usage } from './context.js';

/** One record per proxied request, emitted as `request:complete` after every `onComplete`. */
export interface CompletionRecord {
  id: string;
  method: string;
  /** The gateway path without the query string. */
  path: string;
  provider: string;
  routeKind: RouteKind;
  model?: string;
  stream: boolean;
  status: number;
  principal?: Principal;
  endUser?: string;
  tags: string[];
  usage?: Usage;
  /** The provider's response id (Anthropic: the message id) and the model that answered. */
  response?: ResponseInfo;
  /** The upstream's `request-id` header. */
  upstreamRequestId?: string;
  /** The pool upstream that answered (its name, never its key). */
  upstream?: string;
  /** Every try when the request failed over (the last one answered); absent for one try. */
  attempts?: UpstreamAttempt[];
  timings: {
    /** Epoch milliseconds when the request arrived. */
    start: number;
    /** Epoch milliseconds when the response ended. */
    end: number;
    durationMs: number;
    /** From the upstream call to its last byte. */
    upstreamMs?: number;
    /** From arrival to the upstream's response headers. */
    ttfbMs?: number;
    /** From arrival to the first content delta of a stream. */
    firstTokenMs?: number;
    /** Time the gateway itself added: before the upstream call and after its last byte. */
    overheadMs?: number;
  };
  error?: { code: string; type: string; message: string };
  aborted: boolean;
  /** Plugin state (`state.auth`, `state.cost`, …). */
  state: RequestState;
}

export interface GatewayEvents {
  'request:complete': (record: CompletionRecord) => void;
  'gateway:listening': (address: { host: string; port: number }) => void;
  'gateway:closing': () => void;
}
