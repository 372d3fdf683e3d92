import { ADMIN_GUARD, definePlugin, GatewayError, KEY_LIMITS, settledOrAborted, SPEND_TOTALS, type KeyLimitsSnapshot, type SpendTotals } from '@tollgate/core';
import { sql, STORAGE } from '@tollgate/storage';
import { Redis } from 'ioredis';
import { adminScope, registerAdminRoutes, requireMaster } from './admin-routes.js';
import { rollBudgetWindow, windowSpend } from './budget.js';
import { authConfigSchema, type AuthConfig } from './config-schema.js';
import { KeyCache } from './key-cache.js';
import { KeyGate } from './key-gate.js';
import { KeyService } from './key-service.js';
import { budgetPico, keyMigrations, KeyStore, type VirtualKey } from './key-store.js';
import { BudgetSpend } from './budget-spend.js';
import { RateLimiter } from './limiter.js';
import { KeyInvalidation } from './key-invalidation.js';
import { SharedLimits } from './shared-limits.js';
import { PostgresCounters } from './shared-postgres.js';
import { sharedLimitsMigrations } from './shared-postgres-schema.js';
import { RedisCounters } from './shared-redis.js';
import { resolveMasterKey } from './master-key.js';

/**
 * Who is calling, and may they: the master key, virtual keys (hashed at rest, cached in
 * memory) with expiry, blocking, model allow-lists, budgets and rpm/tpm/parallel limits, and
 * the `/key/*` admin API. Without a master key the gateway is open (and says so at start).
 * The client's credential never reaches the upstream (core swaps in the upstream key), unless
 * the key allows the client's own (`metadata.own_credentials`, or `clients.ownCredentials:
 * all-keys`) and the gateway key came in `clients.keyHeader`: then `ctx.billing` says whose.
 *
 * @example
 * // tollgate.yaml
 * // plugins:
 * //   - use: '@tollgate/storage'
 * //   - use: '@tollgate/plugin-auth'
 * //     config: { masterKey: '${TOLLGATE_MASTER_KEY}' }
 */
/** How long the Redis readiness check waits for PONG before it says degraded (the whole check has 500 ms). */
const REDIS_READY_MS = 250;

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
    // With the database down at start, the migration waits for it in the background; key
    // lookups fail with 503 (TG_ERR_UNAVAILABLE) until it is done.
    await storage.whenAvailable('auth', () => storage.migrate('auth', { ...keyMigrations, ...sharedLimitsMigrations }));
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
    const gate = new KeyGate(resolved?.key, cache, store, limiter, api.gatewayConfig.clients);
    const { keyPrefix, commandTimeoutMs, retryMs, slotTtlMs, postgres, postgresPoolSize } = api.config.sharedLimits;
    const redisUrl = api.config.sharedLimits.redisUrl ?? api.env.TOLLGATE_REDIS_URL;
    if (redisUrl) {
      // No offline queue: while the connection is down a command fails at once (counted
      // locally) instead of waiting for a reconnect; a stalled one fails at its timeout.
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: commandTimeoutMs, enableOfflineQueue: false, lazyConnect: true });
      redis.on('error', () => undefined); // reported by the calls that meet it, once per outage
      // Connected before the first request (which would otherwise be counted locally); a Redis
      // that is down does not stop the start: the connection keeps retrying.
      await redis.connect().catch((err: unknown) => api.log.warn({ err: { message: (err as Error).message } }, 'cannot connect to Redis at start; limits and budgets are counted per replica until it can'));
      gate.shared = new SharedLimits(new RedisCounters(redis, { keyPrefix, slotTtlMs }), { slotTtlMs, retryMs, log: api.log });
      const invalidation = new KeyInvalidation(redis, { channel: `${keyPrefix}keys`, invalidate: (token) => cache.invalidate(token), invalidateAll: () => cache.clear(), log: api.log });
      service.announce = (tokens) => invalidation.announce(tokens);
      // Reported, not required: without Redis each replica counts its own limits.
      // Answered well inside the readiness probe's own bound: a blackholed Redis is "degraded"
      // at once (SharedLimits warns once per outage), never a readiness that does not answer.
      api.readiness('redis', () => {
        if (gate.shared && !gate.shared.usable) return 'degraded';
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'degraded'>((resolve) => (timer = setTimeout(() => resolve('degraded'), REDIS_READY_MS)));
        const pong = redis.ping().then(
          (answer) => (answer === 'PONG' ? true : ('degraded' as const)),
          () => 'degraded' as const,
        );
        return Promise.race([pong, late]).finally(() => clearTimeout(timer));
      });
      api.onClose(async ({ signal }) => {
        await gate.shared?.close(signal);
        invalidation.close();
        redis.disconnect();
      });
      api.log.info('rate limits, budgets and key changes shared with the other replicas through Redis');
    } else if (postgres && storage.openPool) {
      // A pool of its own whose statements end at the call's timeout: an admission never
      // queues behind ledger writes, nor holds their connections while PostgreSQL stalls.
      const db = storage.openPool({ max: postgresPoolSize, queryTimeoutMs: commandTimeoutMs });
      gate.shared = new SharedLimits(new PostgresCounters(db, { slotTtlMs, timeoutMs: commandTimeoutMs }), { slotTtlMs, retryMs, log: api.log });
      api.onClose(async ({ signal }) => {
        await gate.shared?.close(signal);
        // Ends once its connections are back: a statement in flight ends at its own timeout.
        await settledOrAborted(db.destroy(), signal);
      });
      // Its connections opened before the first request, as Redis's is (the first burst would
      // otherwise wait for them); with the database down at start, once it is up.
      await storage.whenAvailable('auth shared limits', async () => {
        await Promise.all(Array.from({ length: postgresPoolSize }, () => sql`select 1`.execute(db)));
      });
      api.log.info('rate limits and budgets shared with the other replicas through PostgreSQL');
    }
    registerAdminRoutes(api, service, resolved?.key);
    api.provide(ADMIN_GUARD, {
      requireAdmin: (req) => requireMaster(req, resolved?.key),
      scope: (req) => adminScope(req, resolved?.key, service),
    });
    api.provide(KEY_LIMITS, { get: (hash) => limitsOf(cache.peek(hash, Date.now()), gate.spend) });

    api.onReady(async () => {
      const totals = api.has(SPEND_TOTALS) ? api.resolve(SPEND_TOTALS) : undefined;
      const spend = totals && new BudgetSpend(totals, gate.shared);
      service.spend = gate.spend = spend;
      if (spend) return;
      await storage.whenAvailable('auth budgets', async () => {
        const budgeted = await store.countWithBudget();
        if (budgeted > 0) {
          throw new GatewayError('TG_ERR_CONFIG', `${budgeted} virtual key(s) have a max_budget, but no cost plugin is loaded to count spend: add @tollgate/plugin-cost or remove the budgets`);
        }
      });
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
