import { GatewayError, type Pico, type Principal, type RequestContext, type Usage } from '@tollgate/core';
import { budgetExceeded, rollBudgetWindow } from './budget.js';
import type { BudgetSpend } from './budget-spend.js';
import { ownCredential, readClientKey } from './credentials.js';
import type { KeyCache } from './key-cache.js';
import { budgetPico, type KeyStore, type VirtualKey } from './key-store.js';
import { secondsToNextMinute, type RateLimiter } from './limiter.js';
import type { SharedLimits, SharedVerdict } from './shared-limits.js';
import { hashKey } from './keys.js';
import type { MasterKey } from './master-key.js';

declare module '@tollgate/core' {
  interface RequestState {
    /** The virtual key that admitted the request (set by the auth plugin). */
    auth?: { key: VirtualKey; slot?: string };
  }
}

const OPEN: Principal = { kind: 'open' };
const MASTER: Principal = { kind: 'master' };
/** What the auth plugin takes from core's `clients` settings. */
export interface ClientKeyOptions {
  keyHeader: string;
  ownCredentials: 'per-key' | 'all-keys';
}

/**
 * The request-path side of keys: who is calling, and may they. A cached key is decided
 * synchronously; only a cache miss costs a database read.
 */
export class KeyGate {
  spend: BudgetSpend | undefined;
  /** Redis or PostgreSQL, when limits and budgets are shared between replicas. */
  shared: SharedLimits | undefined;

  constructor(
    private readonly master: MasterKey | undefined,
    private readonly cache: KeyCache,
    private readonly store: KeyStore,
    private readonly limiter: RateLimiter,
    private readonly clients: ClientKeyOptions,
  ) {}

  onRequest(ctx: RequestContext): void | Promise<void> {
    const presented = readClientKey(ctx.request.headers, this.clients.keyHeader);
    if (presented === undefined) {
      if (this.master) {
        throw new GatewayError('TG_ERR_AUTH_MISSING_KEY', `missing API key: send the gateway key in the x-api-key header, as "Authorization: Bearer <key>" or in ${this.clients.keyHeader}`);
      }
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
    const auth = ctx.state.auth;
    if (!auth) return;
    const tokens = totalTokens(ctx.usage);
    const now = Date.now();
    this.limiter.release(auth.key.token, tokens, now);
    this.shared?.release(auth.key.token, auth.slot, tokens, now);
  }

  private admit(ctx: RequestContext, token: string, found: VirtualKey | null): void | Promise<void> {
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
    this.allowOwnCredential(ctx, key);
    // Spend the budget leaves out cannot exceed it: such a request is not held to it.
    const budget = ctx.budgetExempt ? undefined : budgetPico(key);
    const sharedBudget = budget !== undefined && this.spend?.sharedCounter === true;
    const limited = key.rpmLimit !== null || key.tpmLimit !== null || key.maxParallelRequests !== null;
    if (this.shared?.usable && (limited || sharedBudget)) return this.admitShared(ctx, key, sharedBudget ? budget : undefined, now);
    // Without shared counters, a budget is checked against spend read from the shared database
    // at most the cost plugin's sharedSpend.syncMs ago (a read on the request's path when older).
    const reading = budget === undefined ? undefined : this.spend?.freshen(key.token);
    if (reading) return reading.then(() => this.admitLocal(ctx, key, Date.now()));
    this.admitLocal(ctx, key, now);
  }

  /** Budget and limits as this replica counts them: no shared counters, or their store out. */
  private admitLocal(ctx: RequestContext, key: VirtualKey, now: number): void {
    const over = ctx.budgetExempt ? undefined : budgetExceeded(key, this.spend);
    // Waiting does not help until the window resets: tell SDKs (Claude Code) not to retry.
    if (over) throw new GatewayError('TG_ERR_BUDGET_EXCEEDED', over, { headers: { 'x-should-retry': 'false' } });
    const hit = this.limiter.check(key, now);
    if (hit) throw rateLimited(hit.limit, hit.retryAfterSeconds, key);
    this.grant(ctx, key, undefined, now);
  }

  /**
   * Limits, and the budget when `budget` is given, decided in the shared store for every
   * replica at once; counted locally when it fails. A budget not given is checked here, from memory.
   */
  private async admitShared(ctx: RequestContext, key: VirtualKey, budget: Pico | undefined, now: number): Promise<void> {
    const shared = this.shared!;
    const over = budget === undefined && !ctx.budgetExempt ? budgetExceeded(key, this.spend) : undefined;
    if (over) throw new GatewayError('TG_ERR_BUDGET_EXCEEDED', over, { headers: { 'x-should-retry': 'false' } });
    const budgetLine = budget === undefined ? undefined : budget + key.budgetSpendOffset;
    // A line at or below zero: a regenerated key's window had used its budget already.
    if (budgetLine !== undefined && budgetLine <= 0n) return this.admitLocal(ctx, key, now);
    const ask = () => shared.admit({ token: key.token, rpmLimit: key.rpmLimit, tpmLimit: key.tpmLimit, maxParallelRequests: key.maxParallelRequests, budgetLine, now });
    let verdict: SharedVerdict;
    try {
      verdict = await ask();
      if (!verdict.admitted && verdict.limit === 'seed') {
        await shared.seedSpend(key.token, await this.spend!.seedValue(key.token));
        verdict = await ask();
      }
    } catch (err) {
      // SharedLimits has warned (once per outage); this replica decides on its own counts.
      ctx.log.debug({ err: { message: (err as Error).message }, plugin: 'auth' }, 'shared limits unavailable; counted locally');
      if (budget !== undefined) await this.spend?.freshen(key.token);
      return this.admitLocal(ctx, key, Date.now());
    }
    this.spend?.note(key.token, verdict.spend);
    if (verdict.admitted) return this.grant(ctx, key, verdict.slot, now);
    if (verdict.limit === 'seed') return this.admitLocal(ctx, key, Date.now()); // dropped again at once: count locally
    if (verdict.limit === 'budget') {
      throw new GatewayError('TG_ERR_BUDGET_EXCEEDED', budgetExceeded(key, this.spend) ?? 'budget exceeded for this key', { headers: { 'x-should-retry': 'false' } });
    }
    throw rateLimited(verdict.limit, verdict.limit === 'parallel' ? 1 : secondsToNextMinute(now), key);
  }

  private grant(ctx: RequestContext, key: VirtualKey, slot: string | undefined, now: number): void {
    this.limiter.admit(key.token, now);
    ctx.principal = { kind: 'virtual', keyHash: key.token, keyAlias: key.keyAlias ?? undefined, userId: key.userId ?? undefined, teamId: key.teamId ?? undefined };
    ctx.state.auth = { key, slot };
    if (key.models.length > 0) ctx.route.allowedModels = key.models;
  }

  /**
   * The client's own credential, when the key lets it go upstream: `ctx.billing` says whose.
   * Its spend is booked either way, and counts toward the key's budget unless the key says
   * `own_credentials_budget: false` (docs/claude-code.md says why that is the default).
   */
  private allowOwnCredential(ctx: RequestContext, key: VirtualKey): void {
    const own = ownCredential(ctx.request.headers, this.clients.keyHeader);
    if (!own || (this.clients.ownCredentials !== 'all-keys' && key.metadata.own_credentials !== true)) return;
    ctx.billing = own;
    ctx.budgetExempt = key.metadata.own_credentials_budget === false;
  }

  private persistRoll(key: VirtualKey, ctx: RequestContext): VirtualKey {
    this.cache.set(key);
    this.store.save(key).catch((err: unknown) => ctx.log.error({ err, plugin: 'auth' }, 'could not save the new budget window'));
    return key;
  }
}

function rateLimited(limit: 'rpm' | 'tpm' | 'parallel', retryAfterSeconds: number, key: VirtualKey): GatewayError {
  return new GatewayError('TG_ERR_RATE_LIMITED', `rate limit reached for this key: ${describeLimit(limit, key)}`, {
    headers: { 'retry-after': String(retryAfterSeconds) },
  });
}

function describeLimit(limit: 'rpm' | 'tpm' | 'parallel', key: VirtualKey): string {
  if (limit === 'rpm') return `${key.rpmLimit} requests per minute`;
  if (limit === 'tpm') return `${key.tpmLimit} tokens per minute`;
  return `${key.maxParallelRequests} requests in flight`;
}

function totalTokens(u: Usage | undefined): number {
  return u ? u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens + u.outputTokens : 0;
}
