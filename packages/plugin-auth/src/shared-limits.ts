import { randomUUID } from 'node:crypto';
import type { Redis, Result } from 'ioredis';
import type { Logger } from '@tollgate/core';
import type { RateLimiter, Window } from './limiter.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** IN_FLIGHT_SCRIPT: sets this replica's count for a key, returns the live others' sum. */
    tollgateInFlight(hash: string, replica: string, inFlight: number, livePrefix: string, ttlMs: number): Result<number, Context>;
  }
}

export interface SharedLimitsOptions {
  syncMs: number;
  /** Prepended to every Redis key. */
  keyPrefix: string;
  log: Logger;
}

/** Redis keys of a minute's counts outlive it by a minute: late syncs still find them. */
const WINDOW_TTL_SECONDS = 120;
/** A key with a concurrency limit is shared while it was checked here this recently (or has requests in flight here). */
const PARALLEL_QUIET_MS = 10_000;
/** A key's in-flight hash goes once no replica has used it for this long. */
const IN_FLIGHT_TTL_MS = 60_000;

/**
 * KEYS[1]: a key's in-flight hash, one field per replica. ARGV: this replica's id, its count,
 * the prefix of the replicas' heartbeat keys, the hash's TTL. Sets (or removes) this replica's
 * field and returns the sum of the others' whose heartbeat lives; fields of replicas whose
 * heartbeat has expired (crashed, or cut off from Redis) are removed. Standalone Redis: the
 * heartbeat keys are read without being declared.
 */
const IN_FLIGHT_SCRIPT = `
local hash, me, mine, live = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3]
if mine > 0 then redis.call('HSET', hash, me, mine) else redis.call('HDEL', hash, me) end
local others = 0
local fields = redis.call('HGETALL', hash)
for i = 1, #fields, 2 do
  if fields[i] ~= me then
    if redis.call('EXISTS', live .. fields[i]) == 1 then others = others + tonumber(fields[i + 1])
    else redis.call('HDEL', hash, fields[i]) end
  end
end
if mine > 0 then redis.call('PEXPIRE', hash, ARGV[4]) end
return others`;

/**
 * Shares each key's limits between replicas through Redis, every `syncMs`:
 * - Requests and tokens of the current minute (keys with an rpm or tpm limit): this replica
 *   adds what it counted since its last sync to the key's hash for that minute
 *   (`<prefix>rl:<token>:<minute>`, fields r and t, HINCRBY) and reads back every replica's
 *   totals, which the limiter then counts on top of its own since.
 * - Requests in flight (keys with `max_parallel_requests` checked here in the last 10 s): this
 *   replica sets its count in the key's hash (`<prefix>inflight:<token>`, a field per replica)
 *   and reads the others' sum. Each replica keeps a heartbeat key (`<prefix>live:<id>`, expiring
 *   after 20 syncs, at least 2 s): the counts of a replica that crashed stop counting when its
 *   heartbeat expires.
 * When Redis is unreachable, each replica goes on with its own counts (warned once) and
 * catches up once it is back.
 */
export class SharedLimits {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private failing = false;
  /** This replica's field in the in-flight hashes. */
  private readonly id = randomUUID();
  private readonly liveMs: number;
  /** Heartbeat keys: this prefix and a replica's id. */
  private readonly livePrefix: string;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly redis: Redis,
    private readonly o: SharedLimitsOptions,
  ) {
    this.liveMs = Math.max(2000, 20 * o.syncMs);
    this.livePrefix = `${o.keyPrefix}live:`;
    redis.defineCommand('tollgateInFlight', { numberOfKeys: 1, lua: IN_FLIGHT_SCRIPT });
    this.timer = setInterval(() => void this.syncNow(), o.syncMs).unref();
  }

  /** One sync now (or the one already running); never rejects. */
  private syncNow(): Promise<void> {
    this.running ??= this.sync()
      .then(
        () => {
          if (this.failing) this.o.log.info('rate limits are shared through Redis again');
          this.failing = false;
        },
        (err: unknown) => {
          if (!this.failing) this.o.log.warn({ err: { message: (err as Error).message } }, 'cannot share rate limits through Redis; each replica counts on its own until it can');
          this.failing = true;
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops syncing; this replica's in-flight counts are taken out of Redis (best effort). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    const keys = [...this.limiter.parallelKeys().keys()];
    if (keys.length === 0) return;
    const commands = keys.map((token) => ['hdel', this.inFlightKey(token), this.id]);
    await this.redis.pipeline([...commands, ['del', this.livePrefix + this.id]]).exec().catch(() => undefined);
  }

  private inFlightKey(token: string): string {
    return `${this.o.keyPrefix}inflight:${token}`;
  }

  private async sync(): Promise<void> {
    const now = Date.now();
    const windows = this.limiter.limitedWindows(now);
    const parallel = this.limiter.parallelKeys();
    if (windows.size === 0 && parallel.size === 0) return;
    const commands: (string | number)[][] = [];
    const sent: { w: Window; minute: number; requests: number; tokens: number; read: number }[] = [];
    for (const [token, w] of windows) {
      const key = `${this.o.keyPrefix}rl:${token}:${w.minute}`;
      const requests = w.requests - w.pushedRequests;
      const tokens = w.tokens - w.pushedTokens;
      if (requests > 0) commands.push(['hincrby', key, 'r', requests]);
      if (tokens > 0) commands.push(['hincrby', key, 't', tokens]);
      if (requests > 0 || tokens > 0) commands.push(['expire', key, WINDOW_TTL_SECONDS]);
      sent.push({ w, minute: w.minute, requests, tokens, read: commands.length });
      commands.push(['hmget', key, 'r', 't']);
    }
    const inFlight: { token: string; read: number; checkedAt: number; quiet: boolean }[] = [];
    if (parallel.size > 0) commands.push(['set', this.livePrefix + this.id, '1', 'px', this.liveMs]);
    for (const [token, { inFlight: mine, checkedAt }] of parallel) {
      inFlight.push({ token, read: commands.length, checkedAt, quiet: mine === 0 && now - checkedAt > PARALLEL_QUIET_MS });
      commands.push(['tollgateInFlight', this.inFlightKey(token), this.id, mine, this.livePrefix, IN_FLIGHT_TTL_MS]);
    }
    const results = (await this.redis.pipeline(commands).exec()) ?? [];
    // On a failure nothing counts as pushed, so it goes again next sync; if some increments did
    // land, Redis counts them twice for the rest of the minute (stricter, never looser).
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    for (const { w, minute, requests, tokens, read } of sent) {
      if (w.minute !== minute) continue; // the minute turned while Redis answered
      const [r, t] = results[read]![1] as (string | null)[];
      w.pushedRequests += requests;
      w.pushedTokens += tokens;
      w.sharedRequests = Number(r ?? 0);
      w.sharedTokens = Number(t ?? 0);
    }
    for (const { token, read, checkedAt, quiet } of inFlight) {
      this.limiter.setOthersInFlight(token, Number(results[read]![1]));
      // A quiet key's 0 has just reached Redis: it need not be shared again until it is checked.
      if (quiet) this.limiter.forgetParallel(token, checkedAt);
    }
  }
}
