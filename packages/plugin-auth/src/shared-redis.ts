import type { Redis, Result } from 'ioredis';
import type { Pico } from '@tollgate/core';
import { ADMIT_SCRIPT, BOOK_SPEND_SCRIPT, REFRESH_SLOTS_SCRIPT } from './shared-scripts.js';
import type { CounterVerdict, SharedAdmission, SharedCounters } from './shared-limits.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    tollgateAdmit(rl: string, inFlight: string, spend: string, ...args: (string | number)[]): Result<string[], Context>;
    tollgateBookSpend(spend: string, pico: string, ttlSeconds: number): Result<number, Context>;
    tollgateRefreshSlots(...keysThenArgs: (string | number)[]): Result<number, Context>;
  }
}

export interface RedisCountersOptions {
  /** Prepended to every Redis key. */
  keyPrefix: string;
  slotTtlMs: number;
}

/** A minute's request/token counts outlive it by a minute. */
const WINDOW_TTL_SECONDS = 120;
/** A key's shared spend counter goes after a day without spend; the next check seeds it from the ledger again. */
const SPEND_TTL_SECONDS = 86_400;

/**
 * The shared counters in Redis, one Lua script per admission (ADMIT_SCRIPT). Every call is
 * bounded by the connection's command timeout; Redis expires what is no longer used.
 * - `<prefix>rl:<token>:<minute>`: requests (r) and tokens (t) of a clock minute.
 * - `<prefix>slots:<token>`: requests in flight, a sorted set of slot ids scored by when they
 *   expire (Redis's clock).
 * - `<prefix>spend:<token>`: the key's all-time spend in pico-dollars (BOOK_SPEND_SCRIPT adds
 *   to it only once seeded).
 */
export class RedisCounters implements SharedCounters {
  readonly name = 'Redis';

  constructor(
    private readonly redis: Redis,
    private readonly o: RedisCountersOptions,
  ) {
    redis.defineCommand('tollgateAdmit', { numberOfKeys: 3, lua: ADMIT_SCRIPT });
    redis.defineCommand('tollgateBookSpend', { numberOfKeys: 1, lua: BOOK_SPEND_SCRIPT });
    redis.defineCommand('tollgateRefreshSlots', { numberOfKeys: 0, lua: REFRESH_SLOTS_SCRIPT });
  }

  async admit(a: SharedAdmission, slot: string | undefined): Promise<CounterVerdict> {
    const keys = [this.windowKey(a.token, a.now), this.slotsKey(a.token), this.spendKey(a.token)] as const;
    const args = [a.rpmLimit ?? -1, a.tpmLimit ?? -1, a.maxParallelRequests ?? -1, a.budgetLine?.toString() ?? '', slot ?? '', this.o.slotTtlMs, WINDOW_TTL_SECONDS];
    const [verdict, spendText] = await this.redis.tollgateAdmit(...keys, ...args);
    return { verdict: verdict as CounterVerdict['verdict'], spend: spendText ? BigInt(spendText) : undefined };
  }

  async seedSpend(token: string, spend: Pico): Promise<Pico> {
    const key = this.spendKey(token);
    const [, got] = await this.redis.multi().set(key, spend.toString(), 'EX', SPEND_TTL_SECONDS, 'NX').get(key).exec().then(execResults);
    return BigInt(got as string);
  }

  async readSpend(token: string): Promise<Pico | undefined> {
    const text = await this.redis.get(this.spendKey(token));
    return text === null ? undefined : BigInt(text);
  }

  async bookSpend(token: string, spend: Pico): Promise<void> {
    await this.redis.tollgateBookSpend(this.spendKey(token), spend.toString(), SPEND_TTL_SECONDS);
  }

  async release(token: string, slot: string | undefined, tokens: number, now: number): Promise<void> {
    const commands: (string | number)[][] = [];
    if (slot) commands.push(['zrem', this.slotsKey(token), slot]);
    if (tokens > 0) commands.push(['hincrby', this.windowKey(token, now), 't', tokens], ['expire', this.windowKey(token, now), WINDOW_TTL_SECONDS]);
    await this.redis.pipeline(commands).exec().then(execResults);
  }

  async refreshSlots(slots: Map<string, string>): Promise<void> {
    const keys = [...slots.values()].map((token) => this.slotsKey(token));
    await this.redis.tollgateRefreshSlots(keys.length, ...keys, this.o.slotTtlMs, ...slots.keys());
  }

  async freeSlots(slots: Map<string, string>): Promise<void> {
    await this.redis.pipeline([...slots].map(([slot, token]) => ['zrem', this.slotsKey(token), slot])).exec().then(execResults);
  }

  async dropSpend(tokens: string[]): Promise<void> {
    await this.redis.del(...tokens.map((token) => this.spendKey(token)));
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
