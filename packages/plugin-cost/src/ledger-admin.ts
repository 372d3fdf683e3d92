import { GatewayError, type PluginApi } from '@tollgate/core';
import type { Kysely } from '@tollgate/storage';
import { dayOf, rebuildStatements } from './ledger-rollups.js';
import type { LedgerRetention } from './ledger-retention.js';
import type { LedgerStore } from './ledger-store.js';
import { badParam } from './spend-params.js';
import { requireSpendAdmin } from './spend-routes.js';

export interface LedgerAdminDeps {
  store: LedgerStore;
  retention: LedgerRetention;
  /** Resolves once the rows queued so far are written. */
  flush(): Promise<void>;
  /** Rows older than this many days are gone; null keeps them. */
  retentionDays: number | null;
}

/**
 * `POST /spend/rollups/rebuild` {since?}: recomputes the daily rollups from the rows (all days,
 * or from `since`'s UTC day), after writing the rows queued so far; on SQLite on the writer
 * thread, so the event loop never runs the scan. `POST /spend/retention/run`: retention now.
 */
export function registerLedgerAdmin(api: PluginApi<any>, deps: LedgerAdminDeps): void {
  const { store } = deps;
  api.route('POST', '/spend/rollups/rebuild', async (req) => {
    requireSpendAdmin(api, req);
    const body = ((await req.json()) ?? {}) as { since?: unknown };
    if (!store.shape.rollups) throw new GatewayError('TG_ERR_BAD_REQUEST', 'this gateway keeps no rollups (ledger.rollups: false)');
    if (store.shape.rows !== 'all') {
      throw new GatewayError('TG_ERR_BAD_REQUEST', `rollups can be rebuilt only from every request's row, and this gateway keeps rows: ${store.shape.rows}`);
    }
    let fromDay: number | undefined;
    if (body.since !== undefined) {
      const at = typeof body.since === 'string' ? Date.parse(body.since) : NaN;
      if (Number.isNaN(at)) throw badParam('since must be an ISO date or datetime');
      fromDay = dayOf(at);
    }
    if (deps.retentionDays !== null && (fromDay === undefined || fromDay < dayOf(Date.now()) - deps.retentionDays)) {
      throw badParam(`rows older than ${deps.retentionDays} days are dropped by retention: give --since within that window`);
    }
    await deps.flush();
    const db = store.db as unknown as Kysely<any>;
    const statements = rebuildStatements(fromDay);
    if (store.storage.driver === 'sqlite') await store.storage.background.write(statements.map((s) => s.compile(db)));
    else await db.transaction().execute((tx) => runAll(tx, statements));
    return { body: { from_day: fromDay === undefined ? null : new Date(fromDay * 86_400_000).toISOString().slice(0, 10) } };
  });
  api.route('POST', '/spend/retention/run', async (req) => {
    requireSpendAdmin(api, req);
    return { body: await deps.retention.runOnce() };
  });
}

async function runAll(tx: Kysely<any>, statements: ReturnType<typeof rebuildStatements>): Promise<void> {
  for (const s of statements) await s.execute(tx);
}
