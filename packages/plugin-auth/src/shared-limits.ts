import type { Redis } from 'ioredis';
import type { Logger } from '@tollgate/core';
import type { RateLimiter, Window } from './limiter.js';

export interface SharedLimitsOptions {
  syncMs: number;
  /** Prepended to every Redis key. */
  keyPrefix: string;
  log: Logger;
}

/** Redis keys of a minute's counts outlive it by a minute: late syncs still find them. */
const WINDOW_TTL_SECONDS = 120;

/**
 * Shares each key's request and token counts of the current minute between replicas through
 * Redis. Every `syncMs` this replica adds what it counted since its last sync to the key's hash
 * for that minute (`<prefix>rl:<token>:<minute>`, fields r and t, HINCRBY) and reads back every
 * replica's totals, which the limiter then counts on top of its own since. Only keys with an
 * rpm or tpm limit are shared. When Redis is unreachable, each replica goes on with its own
 * counts (warned once) and catches up once it is back.
 */
export class SharedLimits {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly redis: Redis,
    private readonly o: SharedLimitsOptions,
  ) {
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

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async sync(): Promise<void> {
    const windows = this.limiter.limitedWindows(Date.now());
    if (windows.size === 0) return;
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
  }
}
