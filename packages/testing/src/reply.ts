import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RecordedRequest } from './recorded-request.js';
import type { SseEventSpec } from './sse.js';

export type ReplyHeaders = Record<string, string | string[]>;

export interface WriteInfo {
  bytes: number;
  backpressured: boolean;
}

export interface JsonReply {
  status?: number;
  headers?: ReplyHeaders;
  json: unknown;
  gzip?: boolean;
  delayMs?: number;
}

export interface BodyReply {
  status?: number;
  headers?: ReplyHeaders;
  body: string | Buffer;
  delayMs?: number;
}

export interface SseReply {
  status?: number;
  headers?: ReplyHeaders;
  sse: SseEventSpec[];
  /** Delay before sending headers. */
  delayMs?: number;
  /** Delay between writes. */
  eventDelayMs?: number;
  /** 'event' (default): one write per event; 'one-chunk': a single write; n: the stream cut into n-byte writes. */
  split?: 'event' | 'one-chunk' | number;
  /** content-encoding: gzip, flushed after every write so delivery stays incremental. */
  gzip?: boolean;
  /** Destroy the socket after sending this many events (no clean end). */
  hangUpAfterEvents?: number;
  /** Observes each `res.write` result. */
  onWrite?: (info: WriteInfo) => void;
  /** Default true: when `res.write` returns false, wait for 'drain' before the next write. */
  waitForDrain?: boolean;
}

export interface ChunksReply {
  /** Raw writes as given. */
  chunks: (string | Buffer)[];
  status?: number;
  headers?: ReplyHeaders;
  delayMs?: number;
  eventDelayMs?: number;
  onWrite?: (info: WriteInfo) => void;
  waitForDrain?: boolean;
}

export interface HangUpReply {
  /** Destroy the socket without responding (after `delayMs`, default immediately). */
  hangUp: true;
  delayMs?: number;
}

export interface HangReply {
  /** Never respond (until the client gives up or the mock closes). */
  hang: true;
}

export interface HandlerReply {
  /** Full control. The request body has already been read: use `recorded.body`. */
  handler: (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void | Promise<void>;
}

export type Reply = JsonReply | BodyReply | SseReply | ChunksReply | HangUpReply | HangReply | HandlerReply;

export type ReplyFn = (req: RecordedRequest) => Reply | Promise<Reply>;
