import { describe, expect, it } from 'vitest';
import { newVirtualKey, type VirtualKey } from './key-store.js';
import { RateLimiter } from './limiter.js';

const key = (token: string, maxParallelRequests: number | null): VirtualKey => ({ ...newVirtualKey(token, 'sk-…', 0), maxParallelRequests });

describe('RateLimiter, requests in flight across replicas', () => {
  it('shares only keys with a concurrency limit, and counts the other replicas on top of its own', () => {
    const limiter = new RateLimiter();
    const limited = key('t1', 3);
    expect(limiter.check(key('t0', null), 1000)).toBeUndefined();
    expect(limiter.check(limited, 1000)).toBeUndefined();
    limiter.admit('t1', 1000);
    expect([...limiter.parallelKeys()]).toEqual([['t1', { inFlight: 1, checkedAt: 1000 }]]);
    limiter.setOthersInFlight('t1', 2);
    expect(limiter.check(limited, 1001)).toEqual({ limit: 'parallel', retryAfterSeconds: 1 });
    limiter.setOthersInFlight('t1', 1);
    expect(limiter.check(limited, 1002)).toBeUndefined();
  });

  it('forgets a quiet key only when it has not been checked since and has nothing in flight', () => {
    const limiter = new RateLimiter();
    const limited = key('t1', 1);
    limiter.check(limited, 1000);
    limiter.admit('t1', 1000);
    limiter.forgetParallel('t1', 1000); // still in flight here
    expect(limiter.parallelKeys().has('t1')).toBe(true);
    limiter.release('t1', 0, 1500);
    limiter.check(limited, 2000);
    limiter.forgetParallel('t1', 1000); // checked again at 2000
    expect(limiter.parallelKeys().has('t1')).toBe(true);
    limiter.setOthersInFlight('t1', 1);
    limiter.forgetParallel('t1', 2000);
    expect(limiter.parallelKeys().size).toBe(0);
    // Forgotten with the others' count: a count read for it later is not kept.
    limiter.setOthersInFlight('t1', 1);
    expect(limiter.check(limited, 3000)).toBeUndefined();
  });
});
