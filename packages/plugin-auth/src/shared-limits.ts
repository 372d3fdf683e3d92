import { randomUUID } from 'node:crypto';
import { settledOrAborted, type Logger, type Pico } from '@tollgate/core';

/** What one admission asks the shared store: the key's limits (null: none) and its budget. */
export interface SharedAdmission {
  token: string;
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxParallelRequests: number | null;
  /** The key's all-time spend at which its budget is used up (budget + window offset); undefined: no budget. */
  budgetLine: Pico | undefined;
  now: number;
}

export type SharedVerdict =
  /** Admitted; `slot` is its parallel slot to release, `spend` the key's shared spend (budgeted keys). */
  | { admitted: true; slot: string | undefined; spend: Pico | undefined }
  | { admitted: false; limit: 'rpm' | 'tpm' | 'parallel' | 'budget'; spend: Pico | undefined }
  /** The key's shared spend counter does not exist yet: seed it, then ask again. */
  | { admitted: false; limit: 'seed'; spend: undefined };

/** A store's answer to an admission, and the key's shared spend when it has a budget. */
export interface CounterVerdict {
  verdict: 'ok' | 'seed' | 'rpm' | 'tpm' | 'parallel' | 'budget';
  spend: Pico | undefined;
}

/**
 * Where replicas keep their shared counters: Redis (`RedisCounters`) or PostgreSQL
 * (`PostgresCounters`). Each call is one round trip, atomic in the store, bounded by the
 * store's timeout; a failure rejects. Slots are named by id and key (`slot → token` maps).
 */
export interface SharedCounters {
  /** Named in log lines: "cannot reach Redis …". */
  readonly name: string;
  /** Decides an admission and counts it when admitted: one request in the minute, `slot` (if any) in flight. */
  admit(a: SharedAdmission, slot: string | undefined): Promise<CounterVerdict>;
  /** Starts the key's spend counter at `spend` unless it exists; the counter's value. */
  seedSpend(token: string, spend: Pico): Promise<Pico>;
  /** The key's spend counter, undefined when not seeded. */
  readSpend(token: string): Promise<Pico | undefined>;
  /** Adds to the key's spend counter, only if seeded. */
  bookSpend(token: string, spend: Pico): Promise<void>;
  /** Frees `slot` (if any) and adds `tokens` (if > 0) to the minute's tokens. */
  release(token: string, slot: string | undefined, tokens: number, now: number): Promise<void>;
  /** Moves the expiry of the slots still held to `slotTtlMs` from now (a slot freed meanwhile stays freed). */
  refreshSlots(slots: Map<string, string>): Promise<void>;
  freeSlots(slots: Map<string, string>): Promise<void>;
  /** Drops spend counters: the next check seeds them from the ledger again. */
  dropSpend(tokens: string[]): Promise<void>;
  /** Deletes what expired, when the store does not expire it itself (PostgreSQL). */
  sweep?(): Promise<void>;
}

export interface SharedLimitsOptions {
  /** How long a slot of `max_parallel_requests` outlives the last refresh of a replica that holds it. */
  slotTtlMs: number;
  /** After a failed call, how long limits are counted locally before the store is tried again. */
  retryMs: number;
  /** How often expired rows are deleted, where the store keeps them (default 60 s). */
  sweepMs?: number;
  log: Logger;
}

const SWEEP_MS = 60_000;

/**
 * Limits and budgets decided in a store every replica shares (Redis or PostgreSQL), one
 * atomic call per admission: `rpm_limit` and `max_parallel_requests` are exact in bursts, a
 * budget is refused as soon as any replica's finished requests used it up (it overshoots by
 * at most the requests in flight), `tpm_limit` counts the tokens of finished requests.
 * - per key and clock minute: requests admitted and tokens of requests that ended;
 * - per key: requests in flight, as slots that expire (the store's clock). This replica pushes
 *   its slots' expiry forward every third of `slotTtlMs`; a crashed replica's slots expire;
 * - per budgeted key: its all-time spend in pico-dollars, added to as each request is priced
 *   (only once seeded) and seeded from the ledger.
 * A failed call makes this replica count on its own for `retryMs` (warned once per outage)
 * instead of waiting on the store per request; keys that spent meanwhile have their counter
 * dropped on return, to be seeded again.
 */
export class SharedLimits {
  private readonly timers: NodeJS.Timeout[] = [];
  /** Slots this replica holds: slot id → key. */
  private readonly slots = new Map<string, string>();
  /** Keys whose spend could not be booked: their counters are stale. */
  private readonly missed = new Set<string>();
  private downUntil = 0;
  /** When the current outage began (0: none); only a call started after it shows the store is back. */
  private failingSince = 0;
  /** Slots an admission may have taken though its answer was lost: freed once the store is back. */
  private readonly orphans = new Map<string, string>();

  constructor(
    private readonly counters: SharedCounters,
    private readonly o: SharedLimitsOptions,
  ) {
    this.timers.push(setInterval(() => this.refreshSlots(), Math.max(10, Math.floor(o.slotTtlMs / 3))).unref());
    if (counters.sweep) this.timers.push(setInterval(() => this.sweep(), o.sweepMs ?? SWEEP_MS).unref());
  }

  /** False while the store failed lately: the caller counts on its own. */
  get usable(): boolean {
    return Date.now() >= this.downUntil;
  }

  /** Decides an admission for every replica at once (and counts it when admitted). */
  async admit(a: SharedAdmission): Promise<SharedVerdict> {
    const slot = a.maxParallelRequests === null ? undefined : randomUUID();
    // A lost answer may hide a slot taken in the store: it is freed once the store is back.
    const lost = () => slot && this.orphans.size < 10_000 && this.orphans.set(slot, a.token);
    const { verdict, spend } = await this.call(() => this.counters.admit(a, slot), lost);
    if (verdict === 'ok') {
      if (slot) this.slots.set(slot, a.token);
      return { admitted: true, slot, spend };
    }
    if (verdict === 'seed') return { admitted: false, limit: 'seed', spend: undefined };
    return { admitted: false, limit: verdict, spend };
  }

  /** Starts the key's shared spend counter at `spend` unless another replica did first; the counter's value. */
  seedSpend(token: string, spend: Pico): Promise<Pico> {
    return this.call(() => this.counters.seedSpend(token, spend));
  }

  /** The key's shared spend, or undefined when no replica has seeded it (or the store is out). */
  async readSpend(token: string): Promise<Pico | undefined> {
    if (!this.usable) return undefined;
    return this.call(() => this.counters.readSpend(token)).catch(() => undefined);
  }

  /** Adds a priced request's spend to the key's shared counter (fire and forget). */
  bookSpend(token: string, spend: Pico): void {
    if (spend === 0n) return;
    if (!this.usable) {
      this.missed.add(token);
      return;
    }
    this.call(() => this.counters.bookSpend(token, spend)).catch(() => this.missed.add(token));
  }

  /** The request ended: frees its slot and counts its tokens in the minute's window (fire and forget). */
  release(token: string, slot: string | undefined, tokens: number, now: number): void {
    if (slot) this.slots.delete(slot);
    const orphan = () => slot && this.orphans.size < 10_000 && this.orphans.set(slot, token);
    // Store out: the slot is freed once it is back (this replica no longer renews it, so it expires anyway).
    if (!this.usable) return void orphan();
    if (slot || tokens > 0) this.call(() => this.counters.release(token, slot, tokens, now), orphan).catch(() => undefined);
  }

  /**
   * Stops refreshing; this replica's slots are freed (best effort: otherwise they expire). A
   * store that does not answer is waited for until `signal` aborts (the shutdown's deadline).
   */
  async close(signal?: AbortSignal): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    const held = new Map(this.slots);
    this.slots.clear();
    if (held.size > 0 && this.usable) await settledOrAborted(this.counters.freeSlots(held), signal);
  }

  private refreshSlots(): void {
    if (this.slots.size === 0 || !this.usable) return;
    this.call(() => this.counters.refreshSlots(new Map(this.slots))).catch(() => undefined);
  }

  private sweep(): void {
    if (!this.usable) return;
    this.call(() => this.counters.sweep!()).catch(() => undefined);
  }

  /**
   * Runs a call to the store; a failure opens the breaker (counted locally for `retryMs`), runs
   * `onFailure` and rejects. Replies to calls sent before an outage began do not end it.
   */
  private async call<T>(run: () => Promise<T>, onFailure?: () => void): Promise<T> {
    const started = Date.now();
    try {
      const out = await run();
      if (this.failingSince > 0 && started >= this.failingSince) this.recovered();
      return out;
    } catch (err) {
      onFailure?.();
      this.downUntil = Date.now() + this.o.retryMs;
      if (this.failingSince === 0) {
        this.failingSince = Date.now();
        this.o.log.warn(
          { err: { message: (err as Error).message } },
          `cannot reach ${this.counters.name} for the shared limits and budgets: each replica counts on its own until it can (limits can then go over by the number of replicas)`,
        );
      }
      throw err;
    }
  }

  private recovered(): void {
    this.failingSince = 0;
    const { name } = this.counters;
    this.o.log.info(`shared limits and budgets are decided through ${name} again`);
    if (this.orphans.size > 0) {
      const orphans = new Map(this.orphans);
      this.orphans.clear();
      this.counters.freeSlots(orphans).catch((err: unknown) => this.o.log.warn({ err: { message: (err as Error).message } }, `could not free slots taken while ${name} failed; they expire`));
    }
    if (this.missed.size === 0) return;
    // These counters lack spend booked while the store was out: drop them, the next check seeds them from the ledger.
    const tokens = [...this.missed];
    this.missed.clear();
    this.counters.dropSpend(tokens).catch((err: unknown) => this.o.log.warn({ err: { message: (err as Error).message } }, 'could not drop stale shared spend counters'));
  }
}
