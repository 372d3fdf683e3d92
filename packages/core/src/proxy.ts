import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { Pool } from 'undici';
import { ByteBudget, closesUnread, hasBody, readBody, streamBody } from './body.js';
import type { GatewayConfig } from './config-schema.js';
import { ClientRequest, Context, type UpstreamRequest } from './context.js';
import { errorBody, GatewayError, toGatewayError } from './errors.js';
import type { CompletionRecord, GatewayEvents } from './events.js';
import type { InFlight } from './in-flight.js';
import { assertSafePath } from './path-guard.js';
import type { Pipeline } from './pipeline.js';
import type { Outcome, Reply } from './plugin.js';
import type { ProviderAdapter } from './provider.js';
import { requestId } from './request-id.js';
import { UpstreamCall, type CallResult } from './upstream.js';

const EMPTY = Buffer.alloc(0);

export interface ProxyDeps {
  config: GatewayConfig;
  log: Logger;
  events: EventEmitter<GatewayEvents>;
  pipeline: Pipeline;
  pools: ReadonlyMap<string, Pool>;
  inFlight: InFlight;
  /** Request-body bytes being read at once, over all requests (server.bodyReadLimit). */
  bodyBudget: ByteBudget;
  isClosing(): boolean;
}

/**
 * Runs one request through the pipeline to the provider and back, and completes it exactly
 * once whatever happens (success, upstream error, gateway error, abort, short-circuit).
 */
export async function proxyRequest(deps: ProxyDeps, adapter: ProviderAdapter, req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
  const q = rest.indexOf('?');
  const restPath = q === -1 ? rest : rest.slice(0, q);
  const method = req.method ?? 'GET';
  const request = new ClientRequest(method, adapter.mountPath + restPath, req.headers, EMPTY);
  const route = { provider: adapter.name, kind: adapter.classify(method, restPath), upstreamPath: adapter.basePath + rest, models: [] as string[], stream: false };
  const ctx = new Context(requestId(), deps.log, request, req, res, route);
  deps.inFlight.add(ctx);
  (res as ResponseWithContext)[CONTEXT] = ctx;
  res.on('close', onResponseClose);

  let call: CallResult | undefined;
  let error: GatewayError | undefined;
  try {
    if (deps.isClosing()) throw new GatewayError('TG_ERR_SHUTTING_DOWN', 'the gateway is shutting down', { headers: { connection: 'close' } });
    assertSafePath(restPath);
    let reply = deps.pipeline.onRequestHeaders(ctx);
    if (reply instanceof Promise) reply = await reply;
    let body: UpstreamRequest['body'] = null;
    if (!reply) {
      body = await takeBody(deps, adapter, ctx);
      reply = deps.pipeline.onRequest(ctx);
      if (reply instanceof Promise) reply = await reply;
    }
    if (reply) {
      if (closesUnread(req)) res.setHeader('connection', 'close');
      sendReply(res, reply);
    } else {
      const headers = adapter.upstreamHeaders(req.headers, ctx);
      if (request.streamed && req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
      // A hook may have replaced the bytes (litellm_metadata cut out).
      if (!request.streamed) body = request.body.length > 0 || (method !== 'GET' && method !== 'HEAD') ? request.body : null;
      const upstream = { method, path: ctx.route.upstreamPath, headers, body };
      const before = deps.pipeline.beforeUpstream(ctx, upstream);
      if (before) await before;
      if (!ctx.aborted) {
        call = await new UpstreamCall(ctx, adapter, deps.pipeline, gatewayBase(deps.config, req)).run(deps.pools.get(adapter.name)!, upstream);
        if (call.error) throw call.error;
      }
    }
  } catch (err) {
    error = toGatewayError(err);
    if (error.code === 'TG_ERR_INTERNAL') ctx.log.error({ err }, 'request failed inside the gateway');
    if (!ctx.aborted) {
      // A large body not (all) read: close the connection after the answer rather than read the rest.
      if (closesUnread(req)) res.setHeader('connection', 'close');
      sendError(res, error, ctx.id);
    }
  } finally {
    const pending = complete(deps, ctx, call, error);
    if (pending) await pending;
  }
}

/**
 * The request body, once the header hooks let the request in: read whole (≤ bodyLimit, within
 * the gateway-wide bodyReadLimit) when the gateway needs it or it is JSON; otherwise (file
 * uploads) streamed through unread, ≤ uploadLimit.
 */
function takeBody(deps: ProxyDeps, adapter: ProviderAdapter, ctx: Context): Promise<null> | AsyncIterable<Buffer> {
  const req = ctx.raw.req;
  const { server } = deps.config;
  if (hasBody(req) && adapter.readsBody?.(ctx) === false && !isJson(req.headers['content-type'])) {
    ctx.request.streamed = true;
    return streamBody(req, server.uploadLimit);
  }
  // Decoded when compressed: plugins read, and the upstream gets, the body as it now is.
  return readBody(req, server.bodyLimit, deps.bodyBudget).then((bytes) => {
    ctx.request.body = bytes;
    return null;
  });
}

const isJson = (contentType: string | undefined): boolean => contentType === undefined || /\bjson\b/i.test(contentType);

/** Runs the completion hooks, then emits the record; a promise only when a hook returned one. */
function complete(deps: ProxyDeps, ctx: Context, call: CallResult | undefined, error: GatewayError | undefined): void | Promise<void> {
  const end = performance.now();
  const aborted = ctx.aborted;
  const res = ctx.raw.res;
  // 499 (nginx's "client closed request") when the client left before any status existed.
  const status = error ? error.status : call?.status || (aborted && !res.headersSent ? 499 : res.statusCode);
  const err = error ? { code: error.code, type: error.type, message: error.message } : call?.streamError;
  const outcome: Outcome = { status, aborted, error: err };
  const pending = deps.pipeline.onComplete(ctx, outcome);
  if (pending) return pending.then(() => emitRecord(deps, ctx, call, outcome, end));
  emitRecord(deps, ctx, call, outcome, end);
}

function emitRecord(deps: ProxyDeps, ctx: Context, call: CallResult | undefined, outcome: Outcome, end: number): void {
  const { status, aborted, error: err } = outcome;
  deps.inFlight.delete(ctx);
  const ms = (t: number | undefined) => (t === undefined ? undefined : round(t - ctx.t0));
  const upstreamMs = call?.upstreamEnd !== undefined ? round(call.upstreamEnd - call.upstreamStart) : undefined;
  const durationMs = round(end - ctx.t0);
  const record: CompletionRecord = {
    id: ctx.id,
    method: ctx.request.method,
    path: ctx.request.path,
    provider: ctx.route.provider,
    routeKind: ctx.route.kind,
    model: ctx.route.model,
    stream: ctx.route.stream,
    status,
    principal: ctx.principal,
    endUser: ctx.endUser,
    tags: ctx.tags,
    usage: ctx.usage,
    response: ctx.response,
    upstreamRequestId: call?.upstreamRequestId,
    timings: {
      start: ctx.startTime,
      end: ctx.startTime + durationMs,
      durationMs,
      upstreamMs,
      ttfbMs: ms(call?.upstreamHeaders),
      firstTokenMs: ms(call?.firstToken),
      overheadMs: upstreamMs === undefined ? undefined : round(durationMs - upstreamMs),
    },
    error: err,
    aborted,
    state: ctx.state,
  };
  try {
    deps.events.emit('request:complete', record);
  } catch (err) {
    // An exporter's bug must not crash the process or lose the other listeners' view.
    ctx.log.error({ err }, 'a request:complete listener failed');
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

const CONTEXT = Symbol('tollgate.context');
type ResponseWithContext = ServerResponse & { [CONTEXT]?: Context };

/** A response closed before it finished: the client went away. One function for every request. */
function onResponseClose(this: ResponseWithContext): void {
  if (!this.writableFinished) this[CONTEXT]?.abort();
}

function gatewayBase(config: GatewayConfig, req: IncomingMessage): string {
  if (config.server.publicUrl) return config.server.publicUrl.replace(/\/+$/, '');
  const proto = req.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
  return `${proto}://${req.headers.host ?? 'localhost'}`;
}

/**
 * The one place a gateway error meets the wire: Anthropic's error shape before headers are
 * sent, an SSE `error` event after (for event streams), a cut connection otherwise.
 */
export function sendError(res: ServerResponse, err: GatewayError, requestId?: string): void {
  if (res.writableEnded || res.destroyed) return;
  if (!res.headersSent) {
    const body = errorBody(err, requestId);
    res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...err.headers });
    res.end(body);
    return;
  }
  if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream') && !res.getHeader('content-encoding')) {
    res.end(`event: error\ndata: ${errorBody(err)}\n\n`);
    return;
  }
  res.destroy();
}

export function sendReply(res: ServerResponse, reply: Reply): void {
  const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...reply.headers });
  res.end(body);
}
