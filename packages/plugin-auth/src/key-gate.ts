import { GatewayError, type Principal, type RequestContext, type SpendTotals, type Usage } from '@tollgate/core';
import { budgetExceeded, rollBudgetWindow } from './budget.js';
import { readClientKey } from './credentials.js';
import type { KeyCache } from './key-cache.js';
import type { KeyStore, VirtualKey } from './key-store.js';
import type { RateLimiter } from './limiter.js';
import { hashKey } from './keys.js';
import type { MasterKey } from './master-key.js';

declare module '@tollgate/core' {
  interface RequestState {
    /** The virtual key that admitted the request (set by the auth plugin). */
    auth?: { key: VirtualKey };
  }
}

const OPEN: Principal = { kind: 'open' };
const MASTER: Principal = { kind: 'master' };
const HOW = 'send the gateway key in the x-api-key header or as "Authorization: Bearer <key>"';

/**
 * The request-path side of keys: who is calling, and may they. A cached key is decided
 * synchronously; only a cache miss costs a database read.
 */
export class KeyGate {
  spend: SpendTotals | undefined;

  constructor(
    private readonly master: MasterKey | undefined,
    private readonly cache: KeyCache,
    private readonly store: KeyStore,
    private readonly limiter: RateLimiter,
  ) {}

  onRequest(ctx: RequestContext): void | Promise<void> {
    const presented = readClientKey(ctx.request.headers);
    if (presented === undefined) {
      if (this.master) throw new GatewayError('TG_ERR_AUTH_MISSING_KEY', `missing API key: ${HOW}`);
      ctx.principal = OPEN;
      return;
    }
    // One hash serves both the master-key comparison and the virtual key's token.
    const token = hashKey(presented);
    if (this.master?.matchesToken(token)) {
      ctx.principal = MASTER;
      return;
    }
    const cached = this.cache.peek(token, Date.now());
    if (cached !== undefined) return this.admit(ctx, token, cached);
    return this.cache.load(token).then(
      (key) => this.admit(ctx, token, key ?? null),
      (err: unknown) => {
        ctx.log.error({ err, plugin: 'auth' }, 'key lookup failed');
        throw new GatewayError('TG_ERR_UNAVAILABLE', 'the key store is unavailable; try again shortly', { headers: { 'retry-after': '5' } });
      },
    );
  }

  /** Model allow-list: runs once the metadata plugin has read the models from the body. */
  checkModels(ctx: RequestContext): void {
    const key = ctx.state.auth?.key;
    if (!key || key.models.length === 0) return;
    const denied = ctx.route.models.filter((m) => !key.models.includes(m));
    if (denied.length > 0) {
      throw new GatewayError('TG_ERR_MODEL_NOT_ALLOWED', `this key may not use ${denied.join(', ')}; allowed models: ${key.models.join(', ')}`);
    }
  }

  /** Frees the request's concurrency slot and books its tokens against the key's tpm. */
  release(ctx: RequestContext): void {
    const key = ctx.state.auth?.key;
    if (key) this.limiter.release(key.token, totalTokens(ctx.usage), Date.now());
  }

  private admit(ctx: RequestContext, token: string, found: VirtualKey | null): void {
    const now = Date.now();
    if (!found) {
      if (this.master) throw new GatewayError('TG_ERR_AUTH_INVALID_KEY', 'invalid API key');
      ctx.principal = OPEN;
      return;
    }
    let key = found;
    // Named before the checks, so a refusal (blocked, expired, over budget, rate-limited) is
    // counted in the metrics and the access log against the key's alias, not as nobody's.
    ctx.principal = { kind: 'virtual', keyHash: token, keyAlias: key.keyAlias ?? undefined, userId: key.userId ?? undefined, teamId: key.teamId ?? undefined };
    if (key.blocked) throw new GatewayError('TG_ERR_AUTH_KEY_BLOCKED', 'this API key is blocked');
    if (key.expires !== null && key.expires <= now) {
      throw new GatewayError('TG_ERR_AUTH_KEY_EXPIRED', `this API key expired at ${new Date(key.expires).toISOString()}`);
    }
    const rolled = rollBudgetWindow(key, this.spend, now);
    if (rolled) key = this.persistRoll(rolled, ctx);
    const over = budgetExceeded(key, this.spend);
    if (over) throw new GatewayError('TG_ERR_BUDGET_EXCEEDED', over);
    const hit = this.limiter.check(key, now);
    if (hit) {
      throw new GatewayError('TG_ERR_RATE_LIMITED', `rate limit reached for this key: ${describeLimit(hit.limit, key)}`, {
        headers: { 'retry-after': String(hit.retryAfterSeconds) },
      });
    }
    this.limiter.admit(token, now);
    ctx.state.auth = { key };
  }

  private persistRoll(key: VirtualKey, ctx: RequestContext): VirtualKey {
    this.cache.set(key);
    this.store.save(key).catch((err: unknown) => ctx.log.error({ err, plugin: 'auth' }, 'could not save the new budget window'));
    return key;
  }
}

function describeLimit(limit: 'rpm' | 'tpm' | 'parallel', key: VirtualKey): string {
  if (limit === 'rpm') return `${key.rpmLimit} requests per minute`;
  if (limit === 'tpm') return `${key.tpmLimit} tokens per minute`;
  return `${key.maxParallelRequests} requests in flight`;
}

function totalTokens(u: Usage | undefined): number {
  return u ? u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens + u.outputTokens : 0;
}
