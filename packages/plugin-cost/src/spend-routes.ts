import type { PluginApi } from '@tollgate/core';
import type { LedgerStore } from './ledger-store.js';
import type { PriceBook } from './price-book.js';
import type { RunningTotals } from './spend-totals.js';
import type { SpendWriter } from './spend-writer.js';

export interface SpendRouteDeps {
  store: LedgerStore;
  totals: RunningTotals;
  writer: SpendWriter;
  book: PriceBook;
}

/** The reporting API (master key): /spend/*, /customer/info. */
export function registerSpendRoutes(api: PluginApi<any>, deps: SpendRouteDeps): void {
  api.route('GET', '/spend/queue', () => ({ body: deps.writer.state() }));
}
