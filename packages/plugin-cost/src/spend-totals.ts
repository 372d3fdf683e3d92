import type { Logger, Pico, SpendTotals } from '@tollgate/core';
import type { LedgerStore } from './ledger-store.js';
import type { SpendRow } from './spend-row.js';

export type Dimension = 'api_key' | 'user_id' | 'team_id' | 'end_user' | 'tag';
const DIMENSIONS: Dimension[] = ['api_key', 'user_id', 'team_id', 'end_user', 'tag'];

/**
 * All-time spend per key, user, team, end user and tag, in memory: loaded from the ledger at
 * start and advanced as each row is queued, so a budget sees a request's cost before its row
 * reaches the database. Provided to other plugins as SPEND_TOTALS.
 *
 * Replicas (sharing a PostgreSQL) each count only their own rows after start. `syncShared`
 * reads what all of them committed for the keys budgets asked about lately; a key's spend is
 * then the larger of this instance's count and that one. Both are at most the true spend (one
 * lacks other replicas' rows, the other rows not yet committed), so the larger never counts a
 * row twice; it lags the truth by the rows of the last flush interval and sync.
 */
export class RunningTotals implements SpendTotals {
  private readonly maps = new Map<Dimension, Map<string, Pico>>(DIMENSIONS.map((d) => [d, new Map()]));
  /** Committed spend of every replica, for the keys asked about in the last two syncs. */
  private shared = new Map<string, Pico>();
  private asked = new Set<string>();
  private askedBefore = new Set<string>();

  /** Replaces every total with the ledger's. */
  async load(store: LedgerStore): Promise<void> {
    for (const d of DIMENSIONS) this.maps.set(d, await store.totalsBy(d));
  }

  /** Adds another set of totals to these. */
  merge(other: RunningTotals): void {
    for (const [d, m] of other.maps) for (const [id, spend] of m) this.bump(d, id, spend);
  }

  add(row: SpendRow): void {
    if (row.spend === 0n) return;
    this.bump('api_key', row.api_key, row.spend);
    this.bump('user_id', row.user_id, row.spend);
    this.bump('team_id', row.team_id, row.spend);
    this.bump('end_user', row.end_user, row.spend);
    for (const tag of row.request_tags) this.bump('tag', tag, row.spend);
  }

  get(dimension: Dimension, id: string): Pico {
    return this.maps.get(dimension)!.get(id) ?? 0n;
  }

  keySpend(keyHash: string): Pico {
    this.asked.add(keyHash);
    const own = this.get('api_key', keyHash);
    const shared = this.shared.get(keyHash);
    return shared !== undefined && shared > own ? shared : own;
  }

  /**
   * Reads every replica's committed spend for the keys asked about since the sync before last
   * (PostgreSQL; a no-op on SQLite).
   */
  async syncShared(store: LedgerStore): Promise<void> {
    const tokens = [...new Set([...this.askedBefore, ...this.asked])];
    this.askedBefore = this.asked;
    this.asked = new Set();
    this.shared = (tokens.length > 0 ? await store.sharedKeySpend(tokens) : undefined) ?? new Map();
  }

  private bump(dimension: Dimension, id: string | null, spend: Pico): void {
    if (id === null) return;
    const m = this.maps.get(dimension)!;
    m.set(id, (m.get(id) ?? 0n) + spend);
  }
}

/**
 * Runs `totals.syncShared` every `everyMs` (one at a time), warning once while it fails.
 * Returns what stops it.
 */
export function syncSharedSpend(totals: RunningTotals, store: LedgerStore, everyMs: number, log: Logger): () => Promise<void> {
  let sync: Promise<void> | undefined;
  let failing = false;
  const timer = setInterval(() => {
    sync ??= totals
      .syncShared(store)
      .then(
        () => {
          if (failing) log.info("reading the replicas' shared key spend again");
          failing = false;
        },
        (err: unknown) => {
          if (!failing) log.warn({ err }, "could not read the replicas' shared key spend; budgets count this instance's own spend until it can");
          failing = true;
        },
      )
      .finally(() => (sync = undefined));
  }, everyMs).unref();
  return async () => {
    clearInterval(timer);
    await sync;
  };
}
