import { ADMIN_GUARD, definePlugin, GatewayError, KEY_LIMITS, SPEND_TOTALS, type KeyLimitsSnapshot, type SpendTotals } from '@tollgate/core';
import { STORAGE } from '@tollgate/storage';
import { Redis } from 'ioredis';
import { registerAdminRoutes, requireMaster } from './admin-routes.js';
import { rollBudgetWindow, windowSpend } from './budget.js';
import { authConfigSchema, type AuthConfig } from './config-schema.js';
import { KeyCache } from './key-cache.js';
import { KeyGate } from './key-gate.js';
import { KeyService } from './key-service.js';
import { budgetPico, keyMigrations, KeyStore, type VirtualKey } from './key-store.js';
import { RateLimiter } from './limiter.js';
import { KeyInvalidation } from './key-invalidation.js';
import { SharedLimits } from './shared-limits.js';
import { resolveMasterKey } from './master-key.js';

/**
 * Who is calling, and may they: the master key, virtual keys (hashed at rest, cached in
 * memory) with expiry, blocking, model allow-lists, budgets and rpm/tpm/parallel limits, and
 * the `/key/*` admin API. Without a master key the gateway is open (and says so at start).
 * The client's credential never reaches the upstream: core swaps in the upstream key.
 *
 * @example
 * // tollgate.yaml
 * // plugins:
 * //   - use: '@tollgate/storage'
 * //   - use: '@tollgate/plugin-auth'
 * //     config: { masterKey: '${TOLLGATE_MASTER_KEY}' }
 */
export const authPlugin = definePlugin<AuthConfig>({
  name: 'auth',
  priority: 900,
  dependencies: ['storage'],
  configSchema: authConfigSchema,
  async setup(api) {
    const resolved = resolveMasterKey(api.config.masterKey, api.env);
    if (resolved) {
      api.log.info({ source: resolved.source }, 'master key required on provider routes');
    } else {
      api.log.warn(
        'OPEN GATEWAY: no master key configured (auth.masterKey, TOLLGATE_MASTER_KEY or LITELLM_MASTER_KEY); ' +
          'anyone who can reach this gateway can spend its upstream API key',
      );
    }
    const storage = api.resolve(STORAGE);
    await storage.migrate('auth', keyMigrations);
    const store = new KeyStore(storage);
    const cache = new KeyCache(store, {
      ttlMs: api.config.cacheTtlMs,
      max: api.config.cacheSize,
      timeoutMs: api.config.lookupTimeoutMs,
      staleIfErrorMs: api.config.staleIfErrorMs,
      onStale: (err) => api.log.warn({ err }, 'key lookup failed; accepting the key as last loaded (staleIfErrorMs)'),
    });
    const service = new KeyService(store, cache);
    const limiter = new RateLimiter();
    const gate = new KeyGate(resolved?.key, cache, store, limiter);
    const redisUrl = api.config.sharedLimits.redisUrl ?? api.env.TOLLGATE_REDIS_URL;
    if (redisUrl) {
      const { syncMs, keyPrefix } = api.config.sharedLimits;
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: true });
      redis.on('error', () => undefined); // reported by the calls that meet it, once per outage
      const shared = new SharedLimits(limiter, redis, { syncMs, keyPrefix, log: api.log });
      const invalidation = new KeyInvalidation(redis, { channel: `${keyPrefix}keys`, invalidate: (token) => cache.invalidate(token), log: api.log });
      service.announce = (tokens) => invalidation.announce(tokens);
      api.onClose(async () => {
        await shared.close();
        invalidation.close();
        redis.disconnect();
      });
      api.log.info({ syncMs }, 'rate limits and key changes shared with the other replicas through Redis');
    }
    registerAdminRoutes(api, service, resolved?.key);
    api.provide(ADMIN_GUARD, { requireAdmin: (req) => requireMaster(req, resolved?.key) });
    api.provide(KEY_LIMITS, { get: (hash) => limitsOf(cache.peek(hash, Date.now()), gate.spend) });

    api.onReady(async () => {
      const spend = api.has(SPEND_TOTALS) ? api.resolve(SPEND_TOTALS) : undefined;
      service.spend = gate.spend = spend;
      const budgeted = spend ? 0 : await store.countWithBudget();
      if (budgeted > 0) {
        throw new GatewayError('TG_ERR_CONFIG', `${budgeted} virtual key(s) have a max_budget, but no cost plugin is loaded to count spend: add @tollgate/plugin-cost or remove the budgets`);
      }
    });

    return {
      // From the headers alone, before the body is read: a refused request's body never is.
      onRequestHeaders: (ctx) => gate.onRequest(ctx),
      beforeUpstream: (ctx) => gate.checkModels(ctx),
      onComplete: (ctx) => gate.release(ctx),
    };
  },
});

/** A cached key's limits for exporters; the budget as it stands in the window `now` is in. */
function limitsOf(found: VirtualKey | null | undefined, spend: SpendTotals | undefined): KeyLimitsSnapshot | undefined {
  if (!found) return undefined;
  const key = rollBudgetWindow(found, spend, Date.now()) ?? found;
  const budget = budgetPico(key);
  return {
    keyHash: key.token,
    keyAlias: key.keyAlias ?? undefined,
    maxBudget: budget,
    remainingBudget: budget === undefined ? undefined : budget - windowSpend(key, spend),
    rpmLimit: key.rpmLimit ?? undefined,
    tpmLimit: key.tpmLimit ?? undefined,
    maxParallelRequests: key.maxParallelRequests ?? undefined,
  };
}
