import type { VirtualKey } from './key-store.js';

interface Window {
  minute: number;
  requests: number;
  tokens: number;
}

export interface LimitHit {
  limit: 'rpm' | 'tpm' | 'parallel';
  retryAfterSeconds: number;
}

/** Seconds until the clock minute `now` falls in ends (at least 1): when an rpm/tpm window frees up. */
export function secondsToNextMinute(now: number): number {
  return Math.max(1, Math.ceil((Math.floor(now / 60_000 + 1) * 60_000 - now) / 1000));
}

/**
 * Per-key request, token and concurrency limits of this replica, in fixed one-minute windows
 * (aligned to the clock). Counters live in memory. With shared counters (`SharedLimits`, in
 * Redis or PostgreSQL) the limits are decided there, for every replica at once; these counts
 * still run, and decide while the store cannot be reached.
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly inFlight = new Map<string, number>();
  private sweptMinute = 0;

  /** The first limit the key is at, or undefined. Does not count anything. */
  check(key: VirtualKey, now: number): LimitHit | undefined {
    const w = this.window(key.token, now);
    if (key.rpmLimit !== null && w.requests >= key.rpmLimit) return { limit: 'rpm', retryAfterSeconds: secondsToNextMinute(now) };
    if (key.tpmLimit !== null && w.tokens >= key.tpmLimit) return { limit: 'tpm', retryAfterSeconds: secondsToNextMinute(now) };
    if (key.maxParallelRequests !== null && (this.inFlight.get(key.token) ?? 0) >= key.maxParallelRequests) {
      return { limit: 'parallel', retryAfterSeconds: 1 };
    }
    return undefined;
  }

  /** Counts an admitted request: one more this minute, one more in flight. */
  admit(token: string, now: number): void {
    this.window(token, now).requests++;
    this.inFlight.set(token, (this.inFlight.get(token) ?? 0) + 1);
  }

  /** The request ended: free its slot and book the tokens it used. */
  release(token: string, tokens: number, now: number): void {
    const n = (this.inFlight.get(token) ?? 1) - 1;
    if (n > 0) this.inFlight.set(token, n);
    else this.inFlight.delete(token);
    if (tokens > 0) this.window(token, now).tokens += tokens;
  }

  private window(token: string, now: number): Window {
    const minute = Math.floor(now / 60_000);
    let w = this.windows.get(token);
    if (!w || w.minute !== minute) {
      // A new minute: the windows of past minutes go (nothing reads them again), so the map
      // holds at most the keys used in the current minute.
      if (minute !== this.sweptMinute) this.dropPastWindows(minute);
      w = { minute, requests: 0, tokens: 0 };
      this.windows.set(token, w);
    }
    return w;
  }

  private dropPastWindows(minute: number): void {
    this.sweptMinute = minute;
    for (const [token, w] of this.windows) if (w.minute !== minute) this.windows.delete(token);
  }
}
