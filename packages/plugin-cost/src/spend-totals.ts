import type { Logger, Pico, SpendTotals } from '@tollgate/core';
import type { LedgerStore } from './ledger-store.js';
import type { SpendRow } from './spend-row.js';

export interface RunningTotalsOptions {
  /** The ledger every replica writes to (PostgreSQL): budgets read their committed spend from it. Absent: this instance's counts only. */
  shared?: LedgerStore;
  /** How old a key's shared spend may be when a budget asks for it (`freshen`'s default). */
  maxAgeMs?: number;
  /** Most end users whose spend since start is kept (least recently booked go first). */
  maxEndUsers?: number;
  log?: Logger;
}

/**
 * Running spend in memory, bounded: all-time spend per key as budgets count it (rows marked
 * `budget_exempt` left out; keys are made by an admin, so they are few; loaded from the
 * ledger at start and advanced as each row is queued, so a budget sees a request's cost
 * before its row reaches the database), and spend since start
 * per end user for the most recent `maxEndUsers` (end users and tags are chosen by callers:
 * any number of them must not grow memory; the ledger answers for every one of them).
 * Provided to other plugins as SPEND_TOTALS.
 *
 * Replicas (sharing a PostgreSQL) each count only their own rows after start. `freshen` reads
 * what all of them committed for a key when this instance's read is older than `maxAgeMs`; a
 * key's spend is then that plus what this instance booked since the read began (or this
 * instance's own count, if larger). It lags the truth by the other replicas' rows not yet
 * committed (their last flush interval); with the auth plugin's shared counters (Redis or
 * PostgreSQL), budgets use those instead and this read only seeds them.
 */
export class RunningTotals implements SpendTotals {
  private keys = new Map<string, Pico>();
  /** Insertion order is recency: the first entry is the least recently booked. */
  private readonly endUsers = new Map<string, Pico>();
  /** Every replica's committed spend per key, when the read began, and this instance's count then. */
  private readonly shared = new Map<string, { spend: Pico; at: number; ownAt: Pico }>();
  private readonly reads = new Map<string, Promise<void>>();
  private readonly listeners: ((keyHash: string, spend: Pico) => void)[] = [];
  private readonly endUserListeners: ((row: SpendRow) => void)[] = [];
  private failing = false;
  private readonly maxAgeMs: number;
  private readonly maxEndUsers: number;

  constructor(private readonly o: RunningTotalsOptions = {}) {
    this.maxAgeMs = o.maxAgeMs ?? 1000;
    this.maxEndUsers = o.maxEndUsers ?? 10_000;
  }

  /** Replaces the key totals with the ledger's (end users are not loaded: the ledger answers for them). */
  async load(store: LedgerStore): Promise<void> {
    this.keys = await store.keyBudgetTotals();
  }

  /** Adds another set of totals to these. */
  merge(other: RunningTotals): void {
    for (const [id, spend] of other.keys) this.keys.set(id, (this.keys.get(id) ?? 0n) + spend);
    for (const [id, spend] of other.endUsers) this.bumpEndUser(id, spend);
  }

  add(row: SpendRow): void {
    if (row.spend === 0n) return;
    // Key totals are what budgets count: a row the key's budget leaves out is in the ledger only.
    if (row.api_key !== null && !row.budget_exempt) {
      this.keys.set(row.api_key, (this.keys.get(row.api_key) ?? 0n) + row.spend);
      for (const listener of this.listeners) listener(row.api_key, row.spend);
    }
    if (row.end_user !== null) {
      this.bumpEndUser(row.end_user, row.spend);
      for (const listener of this.endUserListeners) listener(row);
    }
  }

  /** A key's all-time spend as counted here, or an end user's spend booked here since start. */
  get(dimension: 'api_key' | 'end_user', id: string): Pico {
    return (dimension === 'api_key' ? this.keys : this.endUsers).get(id) ?? 0n;
  }

  /** How many entries the totals hold, per kind (what bounds their memory). */
  size(): { keys: number; endUsers: number; sharedKeys: number } {
    return { keys: this.keys.size, endUsers: this.endUsers.size, sharedKeys: this.shared.size };
  }

  keySpend(keyHash: string): Pico {
    const own = this.get('api_key', keyHash);
    const read = this.shared.get(keyHash);
    if (!read) return own;
    // What was committed at the read, plus what this instance booked since it began (those
    // rows were not yet committed then; one committed in between is counted twice: stricter).
    const shared = read.spend + own - read.ownAt;
    return shared > own ? shared : own;
  }

  onKeySpend(listener: (keyHash: string, spend: Pico) => void): void {
    this.listeners.push(listener);
  }

  /** Calls `listener` with each row booked here that moves an end user's spend (end-user budgets count them). */
  onEndUserSpend(listener: (row: SpendRow) => void): void {
    this.endUserListeners.push(listener);
  }

  freshen(keyHash: string, maxAgeMs = this.maxAgeMs): Promise<void> | undefined {
    const store = this.o.shared;
    if (!store) return undefined;
    const read = this.shared.get(keyHash);
    if (read && Date.now() - read.at < maxAgeMs) return undefined;
    let p = this.reads.get(keyHash);
    if (!p) {
      const at = Date.now();
      const ownAt = this.get('api_key', keyHash);
      p = store
        .sharedKeySpend([keyHash])
        .then(
          (found) => {
            this.shared.set(keyHash, { spend: found?.get(keyHash) ?? 0n, at, ownAt });
            if (this.failing) this.o.log?.info("reading the replicas' shared key spend again");
            this.failing = false;
          },
          (err: unknown) => {
            if (!this.failing) this.o.log?.warn({ err }, "could not read the replicas' shared key spend; budgets count this instance's own spend until it can");
            this.failing = true;
            // Counts as read: the next requests do not each wait on a failing database.
            this.shared.set(keyHash, read ? { ...read, at } : { spend: 0n, at, ownAt: 0n });
          },
        )
        .finally(() => this.reads.delete(keyHash));
      this.reads.set(keyHash, p);
    }
    return p;
  }

  private bumpEndUser(id: string, spend: Pico): void {
    const before = this.endUsers.get(id);
    this.endUsers.delete(id);
    this.endUsers.set(id, (before ?? 0n) + spend);
    if (this.endUsers.size > this.maxEndUsers) this.endUsers.delete(this.endUsers.keys().next().value!);
  }
}
