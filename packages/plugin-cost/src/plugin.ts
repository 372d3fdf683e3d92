import { join, resolve } from 'node:path';
import { definePlugin, GatewayError, KEY_LIMITS, picoToUsd, PROVIDERS, SPEND_QUEUE, SPEND_TOTALS, UPSTREAM_TARGETS, type KeyLimits, type Logger, type Outcome, type RequestContext, type Usage } from '@tollgate/core';
import { STORAGE } from '@tollgate/storage';
import { BatchSettlement, type BatchFetch } from './batch-settlement.js';
import { costConfigSchema, type CostConfig } from './cost-config.js';
import { registerCustomerRoutes } from './customer-routes.js';
import { EndUserBudgets } from './end-user-budgets.js';
import { EndUserStore } from './end-user-store.js';
import { LedgerGate } from './ledger-gate.js';
import { priceIterations } from './iteration-cost.js';
import { LedgerStore, ledgerMigrations } from './ledger-store.js';
import type { PriceBook } from './price-book.js';
import { registerPriceReload } from './price-routes.js';
import { checkPriceUrl, LivePriceBook } from './price-source.js';
import { registerReconcile } from './reconcile-routes.js';
import { registerReprice } from './reprice.js';
import { registerLedgerAdmin } from './ledger-admin.js';
import { LedgerRetention } from './ledger-retention.js';
import { registerSpendRoutes, requireSpendAdmin } from './spend-routes.js';
import { bookedSpendOf, spendRowFor, type Priced } from './spend-record.js';
import { BatchSettlementJob } from './settlement-job.js';
import { estimateResponse, familyOf, refusal, unpricedAsk, type UnpricedPolicy } from './unpriced-policy.js';
import type { SpendRow } from './spend-row.js';
import { RunningTotals } from './spend-totals.js';
import { SpendWriter } from './spend-writer.js';

interface CostState {
  priced?: Priced;
  upstreamRequestId?: string;
  firstByteAt?: number;
  batch?: BatchFetch;
  /** The batch this request created: its ledger row records the creator. */
  createdBatch?: string;
  /** Refused because the ledger could not record it (LedgerGate). */
  refused?: boolean;
}

declare module '@tollgate/core' {
  interface RequestState {
    /** What the cost plugin learned about the request, and its price. */
    cost?: CostState;
  }
}

/**
 * Prices every response exactly (pico-dollars, from the price book in force at the request's
 * time), writes one ledger row per request off the request path, keeps running totals per
 * key, user, team, end user and tag (provided as SPEND_TOTALS for budgets), settles Message
 * Batches (as their results are fetched through the gateway, and in a background job for
 * those nobody fetches), and serves the /spend/* and /customer/* reports.
 *
 * @example
 * // plugins:
 * //   - use: '@tollgate/storage'
 * //   - use: '@tollgate/plugin-cost'
 */
export const costPlugin = definePlugin<CostConfig>({
  name: 'cost',
  priority: 100,
  dependencies: ['storage'],
  configSchema: costConfigSchema,
  async setup(api) {
    const { prices } = api.config;
    const urlProblem = prices.url === undefined ? undefined : checkPriceUrl(prices.url);
    if (urlProblem) throw new GatewayError('TG_ERR_CONFIG', urlProblem);
    const baseDir = api.gatewayConfig.baseDir ?? process.cwd();
    const book = await LivePriceBook.open({ ...prices, baseDir }, api.log);
    const storage = api.resolve(STORAGE);
    const { rows, rollups } = api.config.ledger;
    if (rows !== 'all' && !rollups) throw new GatewayError('TG_ERR_CONFIG', `cost: ledger.rows: ${rows} needs ledger.rollups: true (otherwise no report could count the requests that get no row)`);
    const store = new LedgerStore(storage, { rows, rollups }, api.config.ledger.writeConnections);
    const writer = new SpendWriter({
      ...api.config.ledger,
      write: (rows) => store.insert(rows),
      isRowError: (err) => store.isRowError(err),
      spoolFile: resolve(api.config.ledger.spoolFile ?? join(storage.dataDir, 'spend-spool.jsonl')),
      log: api.log,
    });
    const gate = new LedgerGate(writer, api.config.ledger.whenFull);
    api.readiness('ledger', () => gate.readiness());
    const { syncMs } = api.config.sharedSpend;
    const shared = syncMs > 0 && storage.driver === 'postgres' ? store : undefined;
    const totals = new RunningTotals({ shared, maxAgeMs: syncMs, log: api.log });
    const endUsers = new EndUserStore(storage);
    const budgets = new EndUserBudgets({ store: endUsers, ledger: store, flush: () => writer.flush(), log: api.log });
    totals.onEndUserSpend((row) => budgets.add(row));
    api.onClose(() => budgets.close());
    // With the database down at start, this runs once it is up; until then requests are refused (LedgerGate).
    await storage.whenAvailable('cost', async () => {
      await storage.migrate('cost', ledgerMigrations);
      await budgets.load();
      // Rows an earlier run spooled and the replay cannot write yet are not in the database's
      // totals: they are counted on top.
      const unwritten = new RunningTotals();
      await writer.start((row) => {
        unwritten.add(row);
        if (row.end_user !== null) budgets.add(row);
      });
      await totals.load(store);
      await budgets.loadSpend();
      totals.merge(unwritten);
      // Replicas: budgets and blocks set through another one, and the spend it booked.
      if (shared) budgets.start(syncMs);
      // Summing a large ledger left SQLite's caches holding memory the gateway never uses again:
      // 13 MiB of RSS over a 169k-row ledger (123 -> 110 MiB after start).
      await storage.shrinkMemory();
      gate.loaded = true;
    });
    api.provide(SPEND_TOTALS, totals);
    api.provide(SPEND_QUEUE, writer);
    // By the shutdown's deadline: past it, rows the database has not taken go to the spool.
    api.onClose(({ signal }) => writer.close({ signal }));

    const price = createPricer(() => book, api.config.unpriced.policy, api.log);
    const keyLimits = () => (api.has(KEY_LIMITS) ? api.resolve(KEY_LIMITS) : undefined);
    const record = (row: SpendRow) => {
      writer.enqueue(row);
      totals.add(row);
    };
    // Batch results are booked outside any request: exporters hear of them as spend:booked.
    const settlement = new BatchSettlement(store, price, (row) => {
      record(row);
      api.events.emit('spend:booked', bookedSpendOf(row));
    }, api.log);
    const upstream = api.resolve(PROVIDERS).find((p) => p.name === 'anthropic')!;
    const { settleEveryMs: everyMs, lookbackDays } = api.config.batches;
    const targets = api.resolve(UPSTREAM_TARGETS);
    const target = (name: string | null) => targets.target('anthropic', name ?? undefined);
    const job = new BatchSettlementJob({ store, settlement, flush: () => writer.flush(), target, timeoutMs: upstream.timeoutMs, log: api.log, everyMs, lookbackDays });
    if (everyMs > 0) api.onReady(() => job.start());
    // Registered after the writer's close, so it runs before it: rows it booked get written.
    api.onClose(({ signal }) => job.close(signal));
    api.route('POST', '/spend/batches/settle', async (req) => {
      requireSpendAdmin(api, req);
      return { body: await job.runOnce() };
    });
    registerSpendRoutes(api, { store, writer, book });
    registerCustomerRoutes(api, { store: endUsers, budgets, ledger: store, totals });
    registerReprice(api, store, totals, price);
    registerPriceReload(api, book, prices.reloadEveryMs);
    registerReconcile(api, { store, book, upstream, config: api.config.reconcile, log: api.log });
    const { retentionDays, rollupRetentionDays, maintenanceEveryMs } = api.config.ledger;
    const retention = new LedgerRetention({ store, log: api.log, retentionDays, rollupRetentionDays, everyMs: maintenanceEveryMs });
    api.onReady(() => retention.start());
    // Registered after the writer's close, so it stops first.
    api.onClose(({ signal }) => retention.close(signal));
    registerLedgerAdmin(api, { store, retention, flush: () => writer.flush(), retentionDays });
    const state = (ctx: RequestContext): CostState => (ctx.state.cost ??= {});

    return {
      onRequest(ctx) {
        try {
          gate.admit();
        } catch (err) {
          state(ctx).refused = true;
          throw err;
        }
        // After the metadata plugin (800) has read the end user from the body.
        budgets.check(ctx);
        guardBudget(ctx, book, keyLimits(), budgets.hasBudget(ctx.endUser), api.config.unpriced.policy);
        // The cost header needs the whole message before the client gets the headers.
        if (api.config.responseCostHeader && ctx.route.kind === 'messages') ctx.holdResponseBody();
        const batchId = settlement.resultsBatchId(ctx);
        if (batchId) return settlement.prepare(batchId).then((batch) => void (state(ctx).batch = batch));
      },
      onResponseHeaders(ctx, head) {
        const s = state(ctx);
        s.firstByteAt = Date.now();
        const id = head.headers['request-id'];
        if (typeof id === 'string') s.upstreamRequestId = id;
      },
      onChunk(ctx, ev) {
        if (ev.event !== 'line') return;
        const batch = ctx.state.cost?.batch;
        if (batch) settlement.onLine(batch, ev.data);
      },
      onResponseBody(ctx, head, body) {
        if (ctx.route.kind === 'batches') {
          const created = settlement.remember(ctx, body);
          if (created) state(ctx).createdBatch = created;
          return;
        }
        const s = state(ctx);
        // Only successful JSON bodies come here.
        s.priced = priceRequest(ctx, price, true);
        if (api.config.responseCostHeader && !s.priced.unpriced) head.headers['x-tollgate-response-cost'] = picoToUsd(s.priced.spend);
      },
      onComplete(ctx, outcome) {
        const s = state(ctx);
        if (s.refused) return; // nothing was spent, and the ledger could not take the row
        // Kept in state: exporters read the price from the request:complete record.
        const priced = (s.priced ??= priceRequest(ctx, price, succeeded(outcome)));
        record(spendRowFor(ctx, outcome, priced, { messageId: ctx.response?.id, batchId: s.createdBatch }));
      },
    };
  },
});

/**
 * A key or end user with a budget must not run up spend the budget cannot see: a request for
 * something the book has no price for is refused before it goes upstream (policy `refuse`),
 * or, with `estimate`, only when not even an estimate can be made (no known model family).
 */
function guardBudget(ctx: RequestContext, book: PriceBook, limits: KeyLimits | undefined, endUserBudget: boolean, policy: UnpricedPolicy): void {
  if (ctx.route.kind !== 'messages' && ctx.route.kind !== 'batches') return;
  const keyHash = ctx.principal?.keyHash;
  // A key's budget leaves out spend on a client's own credential (budgetExempt); an end user's counts all of it.
  const keyBudget = keyHash !== undefined && !ctx.budgetExempt && limits?.get(keyHash)?.maxBudget !== undefined;
  if (!keyBudget && !endUserBudget) return;
  const at = new Date(ctx.startTime);
  const missing = unpricedAsk(ctx, book, at);
  if (missing === undefined) return;
  // An estimate needs a family for every model asked for (advisor models are not estimated).
  const models = ctx.route.kind === 'messages' ? [ctx.route.model] : ctx.route.models;
  if (policy === 'estimate' && !missing.startsWith('advisor') && models.every((m) => m !== undefined && familyOf(m) !== undefined)) return;
  throw refusal(missing, keyBudget ? 'this key' : 'this end user');
}

/** Prices a message's usage; `usage` undefined: a successful response that carried none. */
type Pricer = (model: string, usage: Usage | undefined, at: Date) => Priced;

/**
 * Only messages are billed, from their usage; everything else is recorded at zero, as are
 * failed, aborted and errored messages without usage. A message that succeeded but whose
 * response carried no usage (or none that could be read) cost something unknown: it is
 * recorded as unpriced, never as $0.
 */
function priceRequest(ctx: RequestContext, price: Pricer, succeeded: boolean): Priced {
  if (ctx.route.kind !== 'messages') return FREE;
  if (!ctx.usage && !succeeded) return FREE;
  if (!ctx.route.model) return { spend: 0n, unpriced: true };
  return price(ctx.route.model, ctx.usage, new Date(ctx.startTime));
}

const FREE: Priced = { spend: 0n, unpriced: false };

/** A 2xx that went to the end: not aborted, no error mid-stream. */
const succeeded = (o: Outcome) => o.status >= 200 && o.status < 300 && !o.aborted && !o.error;

function createPricer(book: () => PriceBook, policy: UnpricedPolicy, log: Logger): Pricer {
  const warned = new Set<string>();
  const noUsage = new Set<string>();
  return (model, usage, at) => {
    if (!usage) {
      if (!noUsage.has(model)) {
        noUsage.add(model);
        log.warn({ model }, 'a successful response carried no usage the gateway could read: recording it as unpriced, with no tokens (its cost is unknown)');
      }
      return { spend: 0n, unpriced: true };
    }
    const cost = priceIterations(book(), model, usage, at);
    const servedModel = cost.servedModel;
    if (!cost.unpriced) return { spend: cost.spend, unpriced: false, servedModel };
    const estimate = policy === 'estimate' ? estimateResponse(book(), model, usage, at) : undefined;
    const missing = cost.missing ?? model;
    if (!warned.has(missing)) {
      warned.add(missing);
      const what = estimate === undefined ? 'recording its requests as unpriced' : 'booking its requests at an estimate (the dearest price of its family), flagged estimated';
      log.warn({ model, missing }, `no price for ${missing}: ${what}; add a price (prices.models, a price file, \`tollgate prices reload\`) and run \`tollgate spend reprice\``);
    }
    if (estimate !== undefined) return { spend: estimate, unpriced: false, estimated: true, servedModel };
    return { spend: 0n, unpriced: true, servedModel };
  };
}
