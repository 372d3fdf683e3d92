import { randomUUID } from 'node:crypto';
import type { Redis, Result } from 'ioredis';
import type { Logger, Pico } from '@tollgate/core';
import { ADMIT_SCRIPT, BOOK_SPEND_SCRIPT, REFRESH_SLOTS_SCRIPT } from './shared-scripts.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    tollgateAdmit(rl: string, inFlight: string, spend: string, ...args: (string | number)[]): Result<string[], Context>;
    tollgateBookSpend(spend: string, pico: string, ttlSeconds: number): Result<number, Context>;
    tollgateRefreshSlots(...keysThenArgs: (string | number)[]): Result<number, Context>;
  }
}

export interface SharedLimitsOptions {
  /** Prepended to every Redis key. */
  keyPrefix: string;
  /** How long a slot of `max_parallel_requests` outlives the last refresh of a replica that holds it. */
  slotTtlMs: number;
  /** After a failed Redis call, how long limits are counted locally before Redis is tried again. */
  retryMs: number;
  log: Logger;
}

/** What one admission asks Redis: the key's limits (null: none) and its budget. */
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

/** A minute's request/token counts outlive it by a minute. */
const WINDOW_TTL_SECONDS = 120;
/** A key's shared spend counter goes after a day without spend; the next check seeds it from the ledger again. */
const SPEND_TTL_SECONDS = 86_400;

/**
 * Limits and budgets decided in Redis for every replica at once, one atomic script per
 * admission (ADMIT_SCRIPT): `rpm_limit` and `max_parallel_requests` are exact in bursts, a
 * budget is refused as soon as any replica's finished requests used it up (it overshoots by
 * at most the requests in flight), `tpm_limit` counts the tokens of finished requests.
 * - `<prefix>rl:<token>:<minute>`: requests (r) and tokens (t) of a clock minute.
 * - `<prefix>slots:<token>`: requests in flight, a sorted set of slot ids scored by when they
 *   expire (Redis's clock). This replica pushes its slots' expiry forward every third of
 *   `slotTtlMs`; a crashed replica's slots expire.
 * - `<prefix>spend:<token>`: the key's all-time spend in pico-dollars, added to as each
 *   request is priced (BOOK_SPEND_SCRIPT, only once seeded) and seeded from the ledger.
 * Every call is bounded by the connection's command timeout. A failed call makes this replica
 * count on its own for `retryMs` (warned once per outage) instead of waiting on Redis per
 * request; keys that spent meanwhile have their counter dropped on return, to be seeded again.
 */
export class SharedLimits {
  private readonly timer: NodeJS.Timeout;
  /** Slots this replica holds: slot id → its sorted set. */
  private readonly slots = new Map<string, string>();
  /** Keys whose spend could not be booked in Redis: their counters are stale. */
  private readonly missed = new Set<string>();
  private downUntil = 0;
  /** When the current outage began (0: none); only a call started after it shows Redis is back. */
  private failingSince = 0;
  /** Slots an admission may have taken in Redis though its answer was lost: freed once Redis is back. */
  private readonly orphans = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly o: SharedLimitsOptions,
  ) {
    redis.defineCommand('tollgateAdmit', { numberOfKeys: 3, lua: ADMIT_SCRIPT });
    redis.defineCommand('tollgateBookSpend', { numberOfKeys: 1, lua: BOOK_SPEND_SCRIPT });
    redis.defineCommand('tollgateRefreshSlots', { numberOfKeys: 0, lua: REFRESH_SLOTS_SCRIPT });
    this.timer = setInterval(() => this.refreshSlots(), Math.max(10, Math.floor(o.slotTtlMs / 3))).unref();
  }

  /** False while Redis failed lately: the caller counts on its own. */
  get usable(): boolean {
    return Date.now() >= this.downUntil;
  }

  /** Decides an admission for every replica at once (and counts it when admitted). */
  async admit(a: SharedAdmission): Promise<SharedVerdict> {
    const slot = a.maxParallelRequests === null ? undefined : randomUUID();
    const keys = [this.windowKey(a.token, a.now), this.slotsKey(a.token), this.spendKey(a.token)] as const;
    const args = [a.rpmLimit ?? -1, a.tpmLimit ?? -1, a.maxParallelRequests ?? -1, a.budgetLine?.toString() ?? '', slot ?? '', this.o.slotTtlMs, WINDOW_TTL_SECONDS];
    // A lost answer may hide a slot taken in Redis: it is freed once Redis is back.
    const lost = () => slot && this.orphans.size < 10_000 && this.orphans.set(slot, keys[1]);
    const reply = await this.call(() => this.redis.tollgateAdmit(...keys, ...args), lost);
    const [verdict, spendText] = reply;
    const spend = spendText ? BigInt(spendText) : undefined;
    if (verdict === 'ok') {
      if (slot) this.slots.set(slot, this.slotsKey(a.token));
      return { admitted: true, slot, spend };
    }
    if (verdict === 'seed') return { admitted: false, limit: 'seed', spend: undefined };
    return { admitted: false, limit: verdict as 'rpm' | 'tpm' | 'parallel' | 'budget', spend };
  }

  /** Starts the key's shared spend counter at `spend` unless another replica did first; the counter's value. */
  async seedSpend(token: string, spend: Pico): Promise<Pico> {
    const key = this.spendKey(token);
    const [, got] = await this.call(() => this.redis.multi().set(key, spend.toString(), 'EX', SPEND_TTL_SECONDS, 'NX').get(key).exec().then(execResults));
    return BigInt(got as string);
  }

  /** The key's shared spend, or undefined when no replica has seeded it (or Redis is out). */
  async readSpend(token: string): Promise<Pico | undefined> {
    if (!this.usable) return undefined;
    const text = await this.call(() => this.redis.get(this.spendKey(token))).catch(() => null);
    return text === null ? undefined : BigInt(text);
  }

  /** Adds a priced request's spend to the key's shared counter (fire and forget). */
  bookSpend(token: string, spend: Pico): void {
    if (spend === 0n) return;
    if (!this.usable) {
      this.missed.add(token);
      return;
    }
    this.call(() => this.redis.tollgateBookSpend(this.spendKey(token), spend.toString(), SPEND_TTL_SECONDS)).catch(() => this.missed.add(token));
  }

  /** The request ended: frees its slot and counts its tokens in the minute's window (fire and forget). */
  release(token: string, slot: string | undefined, tokens: number, now: number): void {
    if (slot) this.slots.delete(slot);
    const orphan = () => slot && this.orphans.size < 10_000 && this.orphans.set(slot, this.slotsKey(token));
    // Redis out: the slot is freed once it is back (this replica no longer renews it, so it expires anyway).
    if (!this.usable) return void orphan();
    const commands: (string | number)[][] = [];
    if (slot) commands.push(['zrem', this.slotsKey(token), slot]);
    if (tokens > 0) commands.push(['hincrby', this.windowKey(token, now), 't', tokens], ['expire', this.windowKey(token, now), WINDOW_TTL_SECONDS]);
    if (commands.length > 0) this.call(() => this.redis.pipeline(commands).exec().then(execResults), orphan).catch(() => undefined);
  }

  /** Stops refreshing; this replica's slots are freed (best effort: otherwise they expire). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const commands = [...this.slots].map(([slot, key]) => ['zrem', key, slot]);
    this.slots.clear();
    if (commands.length > 0 && this.usable) await this.redis.pipeline(commands).exec().catch(() => undefined);
  }

  private refreshSlots(): void {
    if (this.slots.size === 0 || !this.usable) return;
    const keys = [...this.slots.values()];
    const ids = [...this.slots.keys()];
    this.call(() => this.redis.tollgateRefreshSlots(keys.length, ...keys, this.o.slotTtlMs, ...ids)).catch(() => undefined);
  }

  /**
   * Runs a Redis call; a failure opens the breaker (counted locally for `retryMs`), runs
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
          'cannot reach Redis for the shared limits and budgets: each replica counts on its own until it can (limits can then go over by the number of replicas)',
        );
      }
      throw err;
    }
  }

  private recovered(): void {
    this.failingSince = 0;
    this.o.log.info('shared limits and budgets are decided through Redis again');
    if (this.orphans.size > 0) {
      const commands = [...this.orphans].map(([slot, key]) => ['zrem', key, slot]);
      this.orphans.clear();
      this.redis.pipeline(commands).exec().catch((err: unknown) => this.o.log.warn({ err: { message: (err as Error).message } }, 'could not free slots taken while Redis failed; they expire'));
    }
    if (this.missed.size === 0) return;
    // These counters lack spend booked while Redis was out: drop them, the next check seeds them from the ledger.
    const keys = [...this.missed].map((token) => this.spendKey(token));
    this.missed.clear();
    this.redis.del(...keys).catch((err: unknown) => this.o.log.warn({ err: { message: (err as Error).message } }, 'could not drop stale shared spend counters'));
  }

  private windowKey(token: string, now: number): string {
    return `${this.o.keyPrefix}rl:${token}:${Math.floor(now / 60_000)}`;
  }

  private slotsKey(token: string): string {
    return `${this.o.keyPrefix}slots:${token}`;
  }

  private spendKey(token: string): string {
    return `${this.o.keyPrefix}spend:${token}`;
  }
}

/** A MULTI's or pipeline's replies, rejecting with the first error among them. */
function execResults(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('the Redis transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return results.map(([, v]) => v);
}
