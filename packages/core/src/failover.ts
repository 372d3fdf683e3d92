import { sessionKey } from './affinity.js';
import type { Context, UpstreamAttempt, UpstreamRequest } from './context.js';
import { GatewayError } from './errors.js';
import type { Pipeline } from './pipeline.js';
import type { ProviderAdapter } from './provider.js';
import { UpstreamCall, type CallResult, type RetryGate } from './upstream.js';
import { retryAfterMs } from './upstream-health.js';
import type { Upstream, UpstreamPool } from './upstream-pool.js';

interface UpstreamCallOptions {
  ctx: Context;
  adapter: ProviderAdapter;
  pipeline: Pipeline;
  gatewayBase: string;
  pool: UpstreamPool;
  request: UpstreamRequest;
}

/** Errors before any response header: the request may not even have reached the upstream. */
const CONNECTION_ERRORS = new Set(['TG_ERR_UPSTREAM_UNREACHABLE', 'TG_ERR_UPSTREAM_FAILED', 'TG_ERR_UPSTREAM_TIMEOUT']);

/**
 * Sends requests to a provider's pool: a pool of one plain upstream is a single call, as
 * before pools existed (nothing allocated for the pool); otherwise up to `maxAttempts`
 * upstreams in the pool's order, moving on after a 429, 529, 5xx, 401/402/403, connection
 * error or timeout — only while nothing has reached the client, within `maxRetryMs`, and as
 * `x-should-retry` allows. The body is the same buffer on every attempt. A batch's later
 * calls go to the upstream that created it.
 *
 * @example
 * const caller = new UpstreamCaller(pool, adapter, pipeline);
 * const result = await caller.call(ctx, 'http://gw:4000', request);
 */
export class UpstreamCaller {
  constructor(
    readonly pool: UpstreamPool,
    private readonly adapter: ProviderAdapter,
    private readonly pipeline: Pipeline,
  ) {}

  call(ctx: Context, gatewayBase: string, request: UpstreamRequest): Promise<CallResult> {
    const only = this.pool.plain;
    if (only === undefined) return callWithFailover({ ctx, adapter: this.adapter, pipeline: this.pipeline, gatewayBase, pool: this.pool, request });
    // The pool of one: the call as it was before pools, plus a name and a count.
    ctx.upstream = only.name;
    only.health.requests++;
    const req = needsKey(ctx, request, only) ? keyed(request, only) : request;
    return new UpstreamCall(ctx, this.adapter, this.pipeline, gatewayBase).run(only.dispatcher, req);
  }
}

async function callWithFailover(o: UpstreamCallOptions): Promise<CallResult> {
  const { ctx, pool, adapter } = o;
  const f = pool.failover;
  const resource = adapter.pinnedResource?.(ctx);
  const home = resource === undefined ? undefined : pool.pinnedFor(resource);
  // A batch the pool has not seen (made before a restart, or on another replica) is looked
  // for upstream by upstream: a 404 from one moves on to the next.
  const probing = resource !== undefined && home === undefined;
  const order = home ? [home] : pool.order(resource ?? sessionKey(ctx), resource ? [] : ctx.route.models, Date.now());
  if (order.length === 0) throw new GatewayError('TG_ERR_BAD_REQUEST', `no upstream serves the model ${ctx.route.models.join(', ')}`);
  if (!probing && order[0]!.health.state(Date.now()) === 'capped') {
    throw new GatewayError('TG_ERR_RATE_LIMITED', 'every upstream is at the limit the gateway sets for it', { headers: { 'retry-after': '1' } });
  }
  const deadline = performance.now() + f.maxRetryMs;
  const attempts: UpstreamAttempt[] = [];
  const start = performance.now();
  let i = 0;
  let next = -1;
  const canRetry = (): boolean => {
    // A streamed upload went out as it arrived: there is nothing left to send again.
    if (attempts.length + 1 >= f.maxAttempts || performance.now() > deadline || ctx.aborted || ctx.request.streamed) return false;
    next = nextUsable(order, i + 1, probing);
    return next !== -1;
  };
  for (;;) {
    const u = order[i]!;
    const gate: RetryGate = (status, headers) => {
      const now = Date.now();
      // A client's own key or subscription: its 401/402/403 and 429 speak of that credential,
      // not of the upstream. Final, and the upstream's health stays as it was for everyone else.
      if (ctx.billing !== 'gateway' && (status === 429 || status === 401 || status === 402 || status === 403)) return false;
      u.health.readHeadroom(headers, now);
      u.health.answered(status, now, status >= 400 ? retryAfterMs(headers, now) : undefined);
      if (!failoverWorthy(status, headers, probing) || !canRetry()) return false;
      attempts.push({ upstream: u.name, status });
      u.health.retries++;
      return true;
    };
    const result = await attempt(o, u, gate);
    if (!result.retried && result.error && result.upstreamHeaders === undefined && !ctx.aborted) {
      u.health.failed(Date.now());
      if (CONNECTION_ERRORS.has(result.error.code) && canRetry()) {
        attempts.push({ upstream: u.name, error: result.error.code });
        u.health.retries++;
        i = next;
        continue;
      }
    }
    if (result.retried && !ctx.aborted) {
      i = next;
      continue;
    }
    result.upstreamStart = start;
    if (attempts.length > 0) {
      attempts.push(result.status ? { upstream: u.name, status: result.status } : { upstream: u.name, error: result.error?.code });
      ctx.attempts = attempts;
    }
    learn(o, u, result, probing ? resource : undefined);
    return result;
  }
}

/** One call on one upstream, with its credential, headers and base path. */
async function attempt(o: UpstreamCallOptions, u: Upstream, gate: RetryGate): Promise<CallResult> {
  const { ctx, adapter, request } = o;
  ctx.upstream = u.name;
  let req = needsKey(ctx, request, u) ? keyed(request, u) : request;
  if (u.hasHeaders) req = { ...req, headers: { ...req.headers, ...u.headers } };
  if (u.basePath !== adapter.basePath) req = { ...req, path: u.basePath + req.path.slice(adapter.basePath.length) };
  u.health.start(Date.now());
  const result = await new UpstreamCall(ctx, adapter, o.pipeline, o.gatewayBase, gate).run(u.dispatcher, req);
  const usage = result.retried ? undefined : ctx.usage;
  u.health.end(usage ? usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens + usage.outputTokens : 0);
  return result;
}

/** The request with this upstream's key (in place of the adapter's default one). */
/**
 * Whether the request must carry this upstream's key instead of the one it has: never when
 * the client brought its own credential (its key or subscription goes upstream untouched).
 */
function needsKey(ctx: Context, request: UpstreamRequest, u: Upstream): boolean {
  return ctx.billing === 'gateway' && u.apiKey !== undefined && request.headers['x-api-key'] !== u.apiKey;
}

function keyed(request: UpstreamRequest, u: Upstream): UpstreamRequest {
  return { ...request, headers: { ...request.headers, 'x-api-key': u.apiKey! } };
}

/** Statuses that move a request on to the next upstream. */
function failoverWorthy(status: number, headers: Record<string, string | string[] | undefined>, probing: boolean): boolean {
  // The key of this upstream is refused, revoked or out of credit: another key may do.
  if (status === 401 || status === 402 || status === 403) return true;
  if (probing && status === 404) return true;
  const hint = headers['x-should-retry'];
  if (hint === 'false') return false;
  if (hint === 'true') return true;
  return status === 429 || status === 529 || status >= 500;
}

function nextUsable(order: readonly Upstream[], from: number, probing: boolean): number {
  const now = Date.now();
  for (let j = from; j < order.length; j++) if (probing || order[j]!.health.rank(now) > 0) return j;
  return -1;
}

/** Remembers where a batch lives: the upstream that created it, or the one a probe found it on. */
function learn(o: UpstreamCallOptions, u: Upstream, result: CallResult, probed: string | undefined): void {
  if (probed !== undefined && result.status >= 200 && result.status < 300) o.pool.pin(probed, u.name);
  const created = result.rewritten === undefined ? undefined : o.adapter.createdResource?.(o.ctx, result.rewritten);
  if (created !== undefined) o.pool.pin(created, u.name);
}
