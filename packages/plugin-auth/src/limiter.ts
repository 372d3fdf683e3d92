import type { VirtualKey } from './key-store.js';

export interface Window {
  minute: number;
  /** The key has a request or token limit (only those windows are shared). */
  limited: boolean;
  requests: number;
  tokens: number;
  /** How much of `requests` / `tokens` the other replicas have been told (shared limits). */
  pushedRequests: number;
  pushedTokens: number;
  /** Every replica's counts for `minute` at the last sync, this one's pushed counts included. */
  sharedRequests: number;
  sharedTokens: number;
}

export interface LimitHit {
  limit: 'rpm' | 'tpm' | 'parallel';
  retryAfterSeconds: number;
}

/**
 * Per-key request, token and concurrency limits, in fixed one-minute windows (aligned to the
 * clock). Counters live in memory; with shared limits (`SharedLimits`), a sync adds what the
 * other replicas counted in the same minute and what they have in flight, so every limit holds
 * across replicas, a sync behind.
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly inFlight = new Map<string, number>();
  /** Requests in flight on the other replicas, per key, at the last sync (shared limits). */
  private readonly othersInFlight = new Map<string, number>();
  /** When each key with a concurrency limit was last checked: the keys a sync shares. */
  private readonly parallelChecked = new Map<string, number>();

  /** The first limit the key is at, or undefined. Does not count anything. */
  check(key: VirtualKey, now: number): LimitHit | undefined {
    const w = this.window(key.token, now);
    w.limited = key.rpmLimit !== null || key.tpmLimit !== null;
    const retry = Math.max(1, Math.ceil(((w.minute + 1) * 60_000 - now) / 1000));
    // Every replica's count at the last sync, plus what this one counted since.
    const requests = Math.max(w.requests, w.sharedRequests + w.requests - w.pushedRequests);
    const tokens = Math.max(w.tokens, w.sharedTokens + w.tokens - w.pushedTokens);
    if (key.rpmLimit !== null && requests >= key.rpmLimit) return { limit: 'rpm', retryAfterSeconds: retry };
    if (key.tpmLimit !== null && tokens >= key.tpmLimit) return { limit: 'tpm', retryAfterSeconds: retry };
    if (key.maxParallelRequests !== null) {
      this.parallelChecked.set(key.token, now);
      const inFlight = (this.inFlight.get(key.token) ?? 0) + (this.othersInFlight.get(key.token) ?? 0);
      if (inFlight >= key.maxParallelRequests) return { limit: 'parallel', retryAfterSeconds: 1 };
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

  /**
   * The current minute's windows of keys with a request or token limit, for a sync. Drops the
   * windows of past minutes on the way: nothing reads them again.
   */
  limitedWindows(now: number): Map<string, Window> {
    const minute = Math.floor(now / 60_000);
    const out = new Map<string, Window>();
    for (const [token, w] of this.windows) {
      if (w.minute !== minute) this.windows.delete(token);
      else if (w.limited) out.set(token, w);
    }
    return out;
  }

  /**
   * For a sync: this replica's requests in flight for each key with a concurrency limit, with
   * when the key was last checked here.
   */
  parallelKeys(): Map<string, { inFlight: number; checkedAt: number }> {
    const out = new Map<string, { inFlight: number; checkedAt: number }>();
    for (const [token, checkedAt] of this.parallelChecked) out.set(token, { inFlight: this.inFlight.get(token) ?? 0, checkedAt });
    return out;
  }

  /** What a sync read: the key's requests in flight on the other replicas. */
  setOthersInFlight(token: string, n: number): void {
    if (this.parallelChecked.has(token)) this.othersInFlight.set(token, n);
  }

  /**
   * Stops sharing a key that went quiet here (a sync has told the others it has none in flight),
   * unless it was checked again since `checkedAt`.
   */
  forgetParallel(token: string, checkedAt: number): void {
    if (this.parallelChecked.get(token) !== checkedAt || this.inFlight.has(token)) return;
    this.parallelChecked.delete(token);
    this.othersInFlight.delete(token);
  }

  private window(token: string, now: number): Window {
    const minute = Math.floor(now / 60_000);
    let w = this.windows.get(token);
    // A new minute gets a new window: a sync still holding the old one writes into nothing.
    if (!w || w.minute !== minute) {
      w = { minute, limited: false, requests: 0, tokens: 0, pushedRequests: 0, pushedTokens: 0, sharedRequests: 0, sharedTokens: 0 };
      this.windows.set(token, w);
    }
    return w;
  }
}
