import { describe, expect, it } from 'vitest';
import { newVirtualKey, type VirtualKey } from './key-store.js';
import { RateLimiter, secondsToNextMinute } from './limiter.js';

const key = (token: string, limits: Partial<Pick<VirtualKey, 'rpmLimit' | 'tpmLimit' | 'maxParallelRequests'>>): VirtualKey => ({ ...newVirtualKey(token, 'sk-…', 0), ...limits });

describe('RateLimiter (this replica)', () => {
  it('counts requests and tokens per clock minute and requests in flight', () => {
    const limiter = new RateLimiter();
    const k = key('t1', { rpmLimit: 2, tpmLimit: 100, maxParallelRequests: 1 });
    expect(limiter.check(k, 1000)).toBeUndefined();
    limiter.admit('t1', 1000);
    expect(limiter.check(k, 1001)).toEqual({ limit: 'parallel', retryAfterSeconds: 1 });
    limiter.release('t1', 100, 1002);
    expect(limiter.check(k, 1003)).toEqual({ limit: 'tpm', retryAfterSeconds: 59 });
    expect(limiter.check(key('t1', { rpmLimit: 2 }), 1003)).toBeUndefined();
    limiter.admit('t1', 1004);
    expect(limiter.check(k, 1005)).toEqual({ limit: 'rpm', retryAfterSeconds: 59 });
    // The next minute starts afresh.
    limiter.release('t1', 0, 60_000);
    expect(limiter.check(k, 60_001)).toBeUndefined();
  });

  it('retry-after is the seconds to the next clock minute, at least 1', () => {
    expect([secondsToNextMinute(0), secondsToNextMinute(59_500), secondsToNextMinute(59_999), secondsToNextMinute(30_000)]).toEqual([60, 1, 1, 30]);
  });
});
