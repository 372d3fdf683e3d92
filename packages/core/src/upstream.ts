import type { ServerResponse } from 'node:http';
import type { Dispatcher, Pool } from 'undici';
import type { Context, SseEvent, UpstreamRequest } from './context.js';
import { GatewayError, toGatewayError } from './errors.js';
import { relayableResponseHeaders } from './http-headers.js';
import type { Pipeline } from './pipeline.js';
import type { ProviderAdapter, StreamUsageTap } from './provider.js';
import { createLineTap, createSseTap, type BodyTap } from './body-tap.js';
import { decodeContent } from './content-coding.js';
import { memberValue, scanJsonObject, type JsonMember } from './json-scan.js';
import { readableUsage } from './usage.js';

/** Largest non-streaming body we keep a copy of to read usage (or rewrite). */
const MAX_COPY_BYTES = 16 * 1024 * 1024;
/** Nesting allowed in an upstream response the gateway scans (the upstream is trusted; the scan is iterative). */
const RESPONSE_MAX_DEPTH = 4096;

export interface CallResult {
  status: number;
  upstreamRequestId?: string;
  /** performance.now() marks. */
  upstreamStart: number;
  upstreamHeaders?: number;
  firstToken?: number;
  upstreamEnd?: number;
  /** Set when the call failed before the client got headers: the caller sends it. */
  error?: GatewayError;
  /** Set when the stream failed after headers were sent (already reported to the client). */
  streamError?: { code: string; type: string; message: string };
  aborted: boolean;
}

/** relay: bytes flow to the client; rewrite / hold: the body is held back (bounded), then sent. */
type Mode = 'relay' | 'rewrite' | 'hold';

/**
 * One upstream call as an undici dispatch handler: response bytes go to the client as they
 * arrive, a slow client pauses the upstream, a client that leaves aborts it, and taps read
 * a copy (SSE events, or a bounded JSON copy for usage).
 */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  readonly result: CallResult;
  private readonly done: Promise<CallResult>;
  private resolve!: (r: CallResult) => void;
  private controller?: Dispatcher.DispatchController;
  private mode: Mode = 'relay';
  private tap?: BodyTap;
  private usageTap?: StreamUsageTap;
  /** An event the usage tap reads could not be read: the stream's usage is unknown. */
  private usageLost = false;
  private copy?: Buffer[];
  private copyBytes = 0;
  private encoding?: string;
  private contentType = '';
  /** Response headers held back while a body is buffered for rewriting. */
  private heldHeaders?: Record<string, string | string[]>;
  /** The headers timeout until response headers arrive, then the body's idle timeout. */
  private timer?: NodeJS.Timeout;
  private paused = false;
  private readonly resume = () => {
    this.paused = false;
    this.timer?.refresh();
    this.controller?.resume();
  };
  private readonly onAbort = () => this.controller?.abort(new GatewayError('TG_ERR_BAD_REQUEST', 'client closed the request'));
  /** Set when the headers timeout fired before undici handed us a controller. */
  private timedOut?: GatewayError;
  private readonly onHeadersTimeout = () => {
    const err = new GatewayError('TG_ERR_UPSTREAM_TIMEOUT', 'the upstream did not answer in time');
    if (this.controller) this.controller.abort(err);
    else this.timedOut = err;
  };
  private readonly onIdleTimeout = () => {
    // A body we paused (slow client, a hook still running) is not the upstream stalling.
    if (this.paused) this.timer?.refresh();
    else this.controller?.abort(new GatewayError('TG_ERR_UPSTREAM_TIMEOUT', 'the upstream response stalled'));
  };

  constructor(
    private readonly ctx: Context,
    private readonly adapter: ProviderAdapter,
    private readonly pipeline: Pipeline,
    private readonly gatewayBase: string,
  ) {
    this.result = { status: 0, upstreamStart: performance.now(), aborted: false };
    this.done = new Promise((r) => (this.resolve = r));
  }

  /** Dispatches and resolves when the response has fully ended, failed or been aborted. */
  run(pool: Pool, upstream: UpstreamRequest): Promise<CallResult> {
    this.ctx.onAbort = this.onAbort;
    // The timeouts are this call's own timers, not undici's: undici replaces its per-connection
    // timer whenever the timeout changes (headers 600 s, then body 300 s), and the replaced
    // timers stay listed until its next tick (~0.5 s): ~95 KB promoted per scavenge at ~12k
    // req/s with them, 12 KB with ours (--trace-gc-nvp). The headers timeout runs from
    // dispatch; a connection that is still being made when it fires is aborted as soon as
    // undici starts the request (connecting itself is bounded by undici's connect timeout).
    this.timer = setTimeout(this.onHeadersTimeout, this.adapter.timeoutMs).unref();
    // undici takes async iterables (a streamed upload) too, though its types do not say so.
    const body = upstream.body as Dispatcher.DispatchOptions['body'];
    pool.dispatch(
      { path: upstream.path, method: upstream.method as Dispatcher.HttpMethod, headers: upstream.headers, body, headersTimeout: 0, bodyTimeout: 0 },
      this,
    );
    return this.done;
  }

  private pause(controller: Dispatcher.DispatchController): void {
    this.paused = true;
    controller.pause();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.timedOut) controller.abort(this.timedOut);
    else if (this.ctx.aborted) this.onAbort();
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    this.result.status = status;
    this.result.upstreamHeaders = performance.now();
    clearTimeout(this.timer);
    this.timer = setTimeout(this.onIdleTimeout, this.adapter.idleTimeoutMs).unref();
    // undici keeps the raw header buffers on the controller for the whole response (views of
    // the socket's first read): ~2.5 KB a stream that nothing reads once they are parsed.
    controller.rawHeaders = null;
    const requestId = headers['request-id'];
    if (typeof requestId === 'string') this.result.upstreamRequestId = requestId;
    const head = { status, headers: relayableResponseHeaders(headers) };
    let pending: void | Promise<void>;
    try {
      pending = this.pipeline.onResponseHeaders(this.ctx, head);
    } catch (err) {
      controller.abort(toGatewayError(err));
      return;
    }
    if (pending === undefined) return this.start(head.status, head.headers);
    this.pause(controller);
    pending.then(
      () => {
        this.start(head.status, head.headers);
        this.resume();
      },
      (err: unknown) => controller.abort(toGatewayError(err)),
    );
  }

  private start(status: number, headers: Record<string, string | string[]>): void {
    const ctx = this.ctx;
    this.encoding = headerValue(headers['content-encoding']);
    this.contentType = headerValue(headers['content-type']) ?? '';
    const ok = status >= 200 && status < 300;
    const json = ok && this.contentType.includes('json');
    // Rewritten routes (batch objects) and non-streaming messages some plugin asked for on this
    // request: JSON documents, held back so headers can still change.
    const hold = json && ctx.route.kind === 'messages' && ctx.holdsResponse && this.pipeline.hasBodyHooks;
    if (json && (this.adapter.rewritesResponse(ctx) || hold)) {
      this.mode = hold ? 'hold' : 'rewrite';
      this.copy = [];
      this.heldHeaders = headers;
      return;
    }
    if (this.contentType.startsWith('text/event-stream')) {
      this.usageTap = this.adapter.createStreamTap();
      this.tap = createSseTap(this.encoding, (ev) => this.onEvent(ev));
    } else if (ok && this.pipeline.hasChunkHooks && this.adapter.isJsonLines(ctx)) {
      this.tap = createLineTap(this.encoding, (ev) => this.pipeline.onChunk(ctx, ev));
    } else if (json && ctx.route.kind === 'messages') {
      // Only messages carry usage; nothing else needs a copy.
      this.copy = [];
    }
    ctx.raw.res.writeHead(status, headers);
  }

  private onEvent(ev: SseEvent): void {
    if (this.result.firstToken === undefined && this.adapter.isContentEvent(ev)) this.result.firstToken = performance.now();
    try {
      this.usageTap!.onEvent(ev);
    } catch (err) {
      // The tap reads only the events that carry usage: with one of them lost, the usage it
      // would report is part of the truth (say, output without input), so none is reported.
      this.usageLost = true;
      this.ctx.log.warn({ err, event: ev.event }, 'unreadable SSE event');
    }
    if (this.pipeline.hasChunkHooks) this.pipeline.onChunk(this.ctx, ev);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.timer!.refresh();
    if (this.mode === 'relay' && !this.ctx.raw.res.write(chunk)) {
      this.pause(controller);
      this.ctx.raw.res.once('drain', this.resume);
    }
    if (this.tap) this.tap.write(chunk);
    else if (this.copy) this.keepCopy(chunk);
  }

  private keepCopy(chunk: Buffer): void {
    this.copyBytes += chunk.length;
    if (this.copyBytes <= MAX_COPY_BYTES) this.copy!.push(chunk);
    else if (this.mode === 'relay') this.copy = undefined;
    else this.controller?.abort(new GatewayError('TG_ERR_UPSTREAM_FAILED', 'upstream response too large to hold back'));
  }

  onResponseEnd(): void {
    clearTimeout(this.timer);
    this.result.upstreamEnd = performance.now();
    // Relayed bytes are all out: the client is done before usage is read.
    if (this.mode === 'relay') this.ctx.raw.res.end();
    let pending: void | Promise<void> = undefined;
    try {
      pending = this.readResponse();
    } catch (err) {
      this.unreadable(err);
    }
    // Synchronous unless a tap or hook has to wait: no promise per request on the plain path.
    if (!pending) return this.close();
    pending.then(
      () => this.close(),
      (err: unknown) => {
        this.unreadable(err);
        this.close();
      },
    );
  }

  /** Reads usage from what was copied, and sends a held-back body. */
  private readResponse(): void | Promise<void> {
    if (this.mode !== 'relay') return this.sendBuffered();
    if (this.tap) return this.tap.end().then(() => this.readStreamUsage());
    if (!this.copy) return;
    const decoded = decodeContent(joined(this.copy), this.encoding, MAX_COPY_BYTES);
    if (!(decoded instanceof Promise)) return this.summarizeBytes(decoded);
    return decoded.then((bytes) => this.summarizeBytes(bytes));
  }

  /**
   * Usage from a relayed body's bytes: only the top-level members the adapter names are
   * parsed (a scan finds them, in slices for a large body), not the whole document.
   */
  private summarizeBytes(bytes: Buffer): void | Promise<void> {
    const keys = this.adapter.summaryKeys;
    if (!keys) return this.summarize(parseJson(bytes));
    const found = scanJsonObject(bytes, { keys, maxDepth: RESPONSE_MAX_DEPTH });
    const pick = (members: Map<string, JsonMember>) => {
      const partial: Record<string, unknown> = {};
      for (const [key, member] of members) partial[key] = memberValue(bytes, member);
      this.summarize(partial);
    };
    if (found instanceof Promise) return found.then(pick);
    pick(found);
  }

  /** Usage, response id and model of a parsed JSON body. */
  private summarize(body: unknown): void {
    const summary = this.adapter.summarizeJson(body);
    this.ctx.usage = readableUsage(summary.usage);
    this.ctx.response = summary.response;
  }

  private readStreamUsage(): void {
    if (!this.usageTap) return;
    this.takeStreamUsage();
    const err = this.usageTap.error();
    if (err) this.result.streamError = { code: 'TG_ERR_UPSTREAM_STREAM', ...err };
  }

  /** What the stream said so far (all of it, or up to an abort or error). */
  private takeStreamUsage(): void {
    this.ctx.usage = this.usageLost ? undefined : readableUsage(this.usageTap!.usage());
    this.ctx.response = this.usageTap!.response();
  }

  private unreadable(err: unknown): void {
    this.ctx.log.warn({ err }, 'could not read usage from the upstream response');
  }

  private close(): void {
    const res = this.ctx.raw.res;
    if (!res.writableEnded) res.end();
    this.settle();
  }

  /** Sends a held-back body (rewritten on rewrite routes); unparseable bodies go out as they came. */
  private sendBuffered(): void | Promise<void> {
    const original = joined(this.copy!);
    let decoded: Buffer | Promise<Buffer>;
    try {
      decoded = decodeContent(original, this.encoding, MAX_COPY_BYTES);
    } catch (err) {
      return this.relayUnread(original, err);
    }
    if (!(decoded instanceof Promise)) return this.sendDecoded(original, decoded);
    return decoded.then(
      (bytes) => this.sendDecoded(original, bytes),
      (err: unknown) => this.relayUnread(original, err),
    );
  }

  private sendDecoded(original: Buffer, decoded: Buffer): void | Promise<void> {
    // The held headers object itself (the upstream's, already copied once by relayableResponseHeaders).
    const head = { status: this.result.status, headers: this.heldHeaders! };
    let out = original;
    let body: unknown;
    try {
      body = parseJson(decoded);
    } catch (err) {
      return this.relayUnread(original, err);
    }
    if (this.mode === 'rewrite') {
      out = Buffer.from(JSON.stringify(this.adapter.rewriteResponse(body, this.gatewayBase)));
      delete head.headers['content-encoding'];
    } else {
      this.summarize(body);
    }
    const pending = this.pipeline.onResponseBody(this.ctx, head, body);
    if (!pending) return this.sendHeld(head, out);
    return pending.then(() => this.sendHeld(head, out));
  }

  /** A held-back body that cannot be read goes out as it came. */
  private relayUnread(original: Buffer, err: unknown): void {
    this.ctx.log.warn({ err }, 'upstream JSON body could not be read; relaying it unchanged');
    this.sendHeld({ status: this.result.status, headers: this.heldHeaders! }, original);
  }

  private sendHeld(head: { status: number; headers: Record<string, string | string[]> }, out: Buffer): void {
    head.headers['content-length'] = String(out.length);
    this.mode = 'relay';
    this.ctx.raw.res.writeHead(head.status, head.headers);
    this.ctx.raw.res.end(out);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.result.upstreamEnd = performance.now();
    const res = this.ctx.raw.res;
    this.tap?.abandon();
    if (this.ctx.aborted) {
      this.result.aborted = true;
      if (this.usageTap) this.takeStreamUsage();
      this.settle();
      return;
    }
    const gwErr = upstreamError(err);
    if (!res.headersSent) {
      this.result.error = gwErr;
      this.settle();
      return;
    }
    // Headers are out: report in-band when we can, then end the response.
    this.result.streamError = { code: gwErr.code, type: gwErr.type, message: gwErr.message };
    if (this.usageTap) this.takeStreamUsage();
    if (this.usageTap && !this.encoding) {
      res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: gwErr.type, message: gwErr.message } })}\n\n`);
    } else {
      res.destroy();
    }
    this.settle();
  }

  private settle(): void {
    clearTimeout(this.timer);
    this.ctx.onAbort = undefined;
    this.resolve(this.result);
  }
}

/** The chunks as one buffer, without a copy when there is one chunk (the usual small body). */
function joined(chunks: Buffer[]): Buffer {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const parseJson = (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8'));

/** Maps undici's coded errors to the gateway's. */
export function upstreamError(err: Error): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new GatewayError('TG_ERR_UPSTREAM_TIMEOUT', 'the upstream did not answer in time', { cause: err });
    case 'UND_ERR_BODY_TIMEOUT':
      return new GatewayError('TG_ERR_UPSTREAM_TIMEOUT', 'the upstream response stalled', { cause: err });
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'UND_ERR_CLOSED':
      return new GatewayError('TG_ERR_UPSTREAM_FAILED', 'the upstream closed the connection', { cause: err });
    default:
      return new GatewayError('TG_ERR_UPSTREAM_UNREACHABLE', 'the upstream is unreachable', { cause: err });
  }
}
