import type { Pico, SpendTotals } from '@tollgate/core';
import type { LedgerStore } from './ledger-store.js';
import type { SpendRow } from './spend-row.js';

export type Dimension = 'api_key' | 'user_id' | 'team_id' | 'end_user' | 'tag';
const DIMENSIONS: Dimension[] = ['api_key', 'user_id', 'team_id', 'end_user', 'tag'];

/**
 * All-time spend per key, user, team, end user and tag, in memory: loaded from the ledger at
 * start and advanced as each row is queued, so a budget sees a request's cost before its row
 * reaches the database. Provided to other plugins as SPEND_TOTALS.
 */
export class RunningTotals implements SpendTotals {
  private readonly maps = new Map<Dimension, Map<string, Pico>>(DIMENSIONS.map((d) => [d, new Map()]));

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
    return this.get('api_key', keyHash);
  }

  private bump(dimension: Dimension, id: string | null, spend: Pico): void {
    if (id === null) return;
    const m = this.maps.get(dimension)!;
    m.set(id, (m.get(id) ?? 0n) + spend);
  }
}
