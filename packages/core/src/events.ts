import type { ClientInfo } from './client-identity.js';
import type { Billing, Principal, RequestState, ResponseInfo, RouteKind, UpstreamAttempt, Usage } from './context.js';

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
  /** Session, agent and client program (never labels: a session id is unbounded). */
  client?: ClientInfo;
  /** Who paid the upstream; absent means 'gateway'. */
  billing?: Billing;
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

/**
 * Spend a cost plugin booked outside any request (a Message Batch's results, priced when they
 * are read): exporters count it with request spend, so metrics and the ledger agree.
 */
export interface BookedSpend {
  model?: string;
  principal?: Principal;
  endUser?: string;
  usage?: Usage;
  /** Exact pico-USD (0 when unpriced). */
  spend: bigint;
  unpriced: boolean;
}

/** One day × model × upstream key of a reconciliation with the provider's bill. */
export interface SpendDrift {
  date: string;
  model: string;
  upstreamKey: string;
  /** Ledger minus the provider's bill, exact pico-USD. */
  driftPico: bigint;
  /** Beyond the configured threshold. */
  flagged: boolean;
}

export interface GatewayEvents {
  'request:complete': (record: CompletionRecord) => void;
  'spend:booked': (booked: BookedSpend) => void;
  /** A reconciliation ran: every line it compared. */
  'spend:reconciled': (lines: SpendDrift[]) => void;
  'gateway:listening': (address: { host: string; port: number }) => void;
  'gateway:closing': () => void;
}
