import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { definePlugin, GatewayError, picoToUsd, PROVIDERS, SPEND_QUEUE, SPEND_TOTALS, type Logger, type Outcome, type RequestContext, type Usage } from '@tollgate/core';
import { STORAGE } from '@tollgate/storage';
import { anthropicPrices } from './anthropic-prices.js';
import { BatchSettlement, type BatchFetch } from './batch-settlement.js';
import { costConfigSchema, type CostConfig } from './cost-config.js';
import { priceUsage, UnpricedUsageError } from './cost.js';
import { LedgerStore, ledgerMigrations } from './ledger-store.js';
import { createPriceBook, type PriceBook } from './price-book.js';
import { registerReprice } from './reprice.js';
import { registerLedgerAdmin } from './ledger-admin.js';
import { LedgerRetention } from './ledger-retention.js';
import { registerSpendRoutes, requireSpendAdmin } from './spend-routes.js';
import { spendRowFor, type Priced } from './spend-record.js';
import { BatchSettlementJob } from './settlement-job.js';
import type { SpendRow } from './spend-row.js';
import { RunningTotals, syncSharedSpend } from './spend-totals.js';
import { SpendWriter } from './spend-writer.js';

interface CostState {
  priced?: Priced;
  upstreamRequestId?: string;
  firstByteAt?: number;
  batch?: BatchFetch;
  /** The batch this request created: its ledger row records the creator. */
  createdBatch?: string;
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
    const book = await loadPriceBook(api.config, api.gatewayConfig.baseDir ?? process.cwd());
    const storage = api.resolve(STORAGE);
    const { rows, rollups } = api.config.ledger;
    if (rows !== 'all' && !rollups) throw new GatewayError('TG_ERR_CONFIG', `cost: ledger.rows: ${rows} needs ledger.rollups: true (otherwise no report could count the requests that get no row)`);
    await storage.migrate('cost', ledgerMigrations);
    const store = new LedgerStore(storage, { rows, rollups });
    const { flushIntervalMs, batchSize, maxRetryMs } = api.config.ledger;
    const writer = new SpendWriter({
      flushIntervalMs,
      batchSize,
      maxRetryMs,
      write: (rows) => store.insert(rows),
      isRowError: (err) => store.isRowError(err),
      spoolFile: resolve(api.config.ledger.spoolFile ?? join(storage.dataDir, 'spend-spool.jsonl')),
      log: api.log,
    });
    // Rows an earlier run spooled and the replay cannot write yet are not in the database's
    // totals: they are counted on top.
    const unwritten = new RunningTotals();
    await writer.start((row) => unwritten.add(row));
    const totals = new RunningTotals();
    await totals.load(store);
    totals.merge(unwritten);
    // Summing a large ledger left SQLite's caches holding memory the gateway never uses again:
    // 13 MiB of RSS over a 169k-row ledger (123 -> 110 MiB after start).
    await storage.shrinkMemory();
    api.provide(SPEND_TOTALS, totals);
    const { syncMs } = api.config.sharedSpend;
    if (syncMs > 0 && storage.driver === 'postgres') api.onClose(syncSharedSpend(totals, store, syncMs, api.log));
    api.provide(SPEND_QUEUE, writer);
    api.onClose(() => writer.close());

    const price = createPricer(book, api.log);
    const record = (row: SpendRow) => {
      writer.enqueue(row);
      totals.add(row);
    };
    const settlement = new BatchSettlement(store, price, record, api.log);
    const upstream = api.resolve(PROVIDERS).find((p) => p.name === 'anthropic')!;
    const { settleEveryMs: everyMs, lookbackDays } = api.config.batches;
    const job = new BatchSettlementJob({ store, settlement, flush: () => writer.flush(), upstream, log: api.log, everyMs, lookbackDays });
    if (everyMs > 0) api.onReady(() => job.start());
    // Registered after the writer's close, so it runs before it: rows it booked get written.
    api.onClose(() => job.close());
    api.route('POST', '/spend/batches/settle', async (req) => {
      requireSpendAdmin(api, req);
      return { body: await job.runOnce() };
    });
    registerSpendRoutes(api, { store, totals, writer, book });
    registerReprice(api, store, totals, price);
    const { retentionDays, rollupRetentionDays, maintenanceEveryMs } = api.config.ledger;
    const retention = new LedgerRetention({ store, log: api.log, retentionDays, rollupRetentionDays, everyMs: maintenanceEveryMs });
    api.onReady(() => retention.start());
    // Registered after the writer's close, so it stops first.
    api.onClose(() => retention.close());
    registerLedgerAdmin(api, { store, retention, flush: () => writer.flush(), retentionDays });
    const state = (ctx: RequestContext): CostState => (ctx.state.cost ??= {});

    return {
      onRequest(ctx) {
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
        // Kept in state: exporters read the price from the request:complete record.
        const priced = (s.priced ??= priceRequest(ctx, price, succeeded(outcome)));
        record(spendRowFor(ctx, outcome, priced, { messageId: ctx.response?.id, batchId: s.createdBatch }));
      },
    };
  },
});

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

function createPricer(book: PriceBook, log: Logger): Pricer {
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
    const row = book.lookup(model, at);
    try {
      if (row) return { spend: priceUsage(usage, row, { batch: usage.serviceTier === 'batch' }).total, unpriced: false };
    } catch (err) {
      if (!(err instanceof UnpricedUsageError)) throw err;
    }
    if (!warned.has(model)) {
      warned.add(model);
      log.warn({ model }, 'no price for this model (or its usage options): recording its requests as unpriced; add it under prices.models and run `tollgate spend reprice`');
    }
    return { spend: 0n, unpriced: true };
  };
}

async function loadPriceBook(config: CostConfig, baseDir: string): Promise<PriceBook> {
  const extraFiles = [];
  for (const file of config.prices.files) {
    const path = resolve(baseDir, file);
    const text = await readFile(path, 'utf8');
    extraFiles.push({ label: path, data: path.endsWith('.json') ? JSON.parse(text) : parseYaml(text) });
  }
  return createPriceBook(anthropicPrices, { extraFiles, models: config.prices.models });
}
