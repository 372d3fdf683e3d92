import type { Pico, SpendTotals } from '@tollgate/core';
import type { SharedLimits } from './shared-limits.js';

/**
 * The spend budgets see: the cost plugin's totals (SPEND_TOTALS), raised to the key's shared
 * counter (Redis or PostgreSQL) as last read here. Both are at most the true spend, so the larger is the
 * closer and never counts a request twice.
 */
export class BudgetSpend implements SpendTotals {
  /** The shared counter of each budgeted key, as the last admission or read saw it. */
  private readonly seen = new Map<string, Pico>();
  /** Budgets are decided on shared counters: there are some, and the totals tell each spend as it is booked to feed them. */
  readonly sharedCounter: boolean;

  constructor(
    private readonly totals: SpendTotals,
    private readonly shared: SharedLimits | undefined,
  ) {
    this.sharedCounter = shared !== undefined && typeof totals.onKeySpend === 'function';
    if (this.sharedCounter) totals.onKeySpend!((hash, pico) => shared!.bookSpend(hash, pico));
  }

  keySpend(keyHash: string): Pico {
    const own = this.totals.keySpend(keyHash);
    const seen = this.seen.get(keyHash);
    return seen !== undefined && seen > own ? seen : own;
  }

  freshen(keyHash: string): Promise<void> | undefined {
    return this.totals.freshen?.(keyHash);
  }

  /** Keeps what the shared store answered for the key. */
  note(keyHash: string, spend: Pico | undefined): void {
    if (spend !== undefined) this.seen.set(keyHash, spend);
  }

  /** Brings keySpend(keyHash) up to date, for an admin read: the shared counter, else a fresh read of the ledger. */
  async refresh(keyHash: string): Promise<void> {
    const shared = this.sharedCounter ? await this.shared!.readSpend(keyHash) : undefined;
    if (shared !== undefined) this.note(keyHash, shared);
    else await this.totals.freshen?.(keyHash, 0);
  }

  /** What a key's shared counter starts at: every replica's committed spend, or this one's count if larger. */
  async seedValue(keyHash: string): Promise<Pico> {
    await this.totals.freshen?.(keyHash, 0);
    return this.totals.keySpend(keyHash);
  }
}
