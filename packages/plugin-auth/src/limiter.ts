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

/**
 * Per-key request, token and concurrency limits on this instance, in fixed one-minute windows
 * (aligned to the clock). Counters live in memory: replicas each enforce their own share.
 */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly inFlight = new Map<string, number>();

  /** The first limit the key is at, or undefined. Does not count anything. */
  check(key: VirtualKey, now: number): LimitHit | undefined {
    const w = this.window(key.token, now);
    const retry = Math.max(1, Math.ceil(((w.minute + 1) * 60_000 - now) / 1000));
    if (key.rpmLimit !== null && w.requests >= key.rpmLimit) return { limit: 'rpm', retryAfterSeconds: retry };
    if (key.tpmLimit !== null && w.tokens >= key.tpmLimit) return { limit: 'tpm', retryAfterSeconds: retry };
    if (key.maxParallelRequests !== null && (this.inFlight.get(key.token) ?? 0) >= key.maxParallelRequests) return { limit: 'parallel', retryAfterSeconds: 1 };
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
    if (!w) {
      w = { minute, requests: 0, tokens: 0 };
      this.windows.set(token, w);
    } else if (w.minute !== minute) {
      w.minute = minute;
      w.requests = 0;
      w.tokens = 0;
    }
    return w;
  }
}
