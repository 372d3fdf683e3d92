import { describe, expect, it } from 'vitest';
import { hash32, rendezvousScore } from './affinity.js';
import type { FailoverConfig } from './upstream-config.js';
import { retryAfterMs, UpstreamHealth } from './upstream-health.js';

const F: FailoverConfig = {
  maxAttempts: 3, maxRetryMs: 30000, affinity: true, cooldownMs: 1000, maxCooldownMs: 60000, breakerFailures: 3, breakerOpenMs: 10000,
  authFailureMs: 300000, minHeadroom: 0.1, redisUrl: null, redisKeyPrefix: 'tollgate:',
};
const NO_CAPS = { maxConcurrency: null, rpm: null, tpm: null };
const T = 1_800_000_000_000;

describe('upstream health', () => {
  it('cools down for retry-after, else a doubling backoff, capped', () => {
    const h = new UpstreamHealth('a', F, NO_CAPS);
    h.answered(429, T, 2500);
    expect(h.snapshot(T)).toMatchObject({ state: 'cooldown', until: T + 2500, rateLimited: 1 });
    expect(h.state(T + 2500)).toBe('ok');
    h.answered(529, T, undefined);
    expect(h.snapshot(T).until).toBe(T + 2000);
    h.answered(529, T, undefined);
    expect(h.snapshot(T).until).toBe(T + 4000);
    h.answered(429, T, 3_600_000);
    expect(h.snapshot(T).until).toBe(T + 60000);
    h.answered(200, T, undefined);
    h.answered(529, T, undefined);
    expect(h.snapshot(T).until).toBe(T + 1000);
  });

  it('opens the circuit after failures in a row, lets one probe through once open long enough, and closes on its success', () => {
    const h = new UpstreamHealth('a', F, NO_CAPS);
    h.failed(T);
    h.answered(503, T, undefined);
    expect(h.state(T)).toBe('ok');
    h.failed(T);
    expect(h.snapshot(T)).toMatchObject({ state: 'open', until: T + 10000, failures: 3 });
    expect(h.rank(T + 9999)).toBe(0);
    expect(h.state(T + 10000)).toBe('half-open');
    expect(h.rank(T + 10000)).toBe(2);
    h.start(T + 10000);
    // One probe at a time.
    expect(h.rank(T + 10001)).toBe(0);
    h.failed(T + 10500);
    expect(h.snapshot(T + 10500)).toMatchObject({ state: 'open', until: T + 20500 });
    h.end(0);
    h.start(T + 20500);
    h.answered(200, T + 20600, undefined);
    h.end(0);
    expect(h.state(T + 20600)).toBe('ok');
  });

  it('keeps an upstream whose key is refused out until a probe, for authFailureMs', () => {
    const h = new UpstreamHealth('a', F, NO_CAPS);
    h.answered(401, T, undefined);
    expect(h.snapshot(T)).toMatchObject({ state: 'unhealthy', until: T + 300000 });
    expect(h.state(T + 300000)).toBe('half-open');
  });

  it('ranks an upstream low on rate-limit headroom below the others, for a few seconds', () => {
    const h = new UpstreamHealth('a', F, NO_CAPS);
    h.readHeadroom({ 'anthropic-ratelimit-requests-limit': '100', 'anthropic-ratelimit-requests-remaining': '50', 'anthropic-ratelimit-tokens-limit': '1000', 'anthropic-ratelimit-tokens-remaining': '50' }, T);
    expect(h.snapshot(T).headroom).toBe(0.05);
    expect(h.rank(T)).toBe(1);
    expect(h.rank(T + 5000)).toBe(2);
  });

  it('enforces its own caps: concurrency, requests and tokens a minute', () => {
    const h = new UpstreamHealth('a', F, { maxConcurrency: 2, rpm: 3, tpm: 100 });
    h.start(T);
    h.start(T);
    expect(h.state(T)).toBe('capped');
    h.end(60);
    expect(h.state(T)).toBe('ok');
    h.start(T);
    h.end(0);
    expect(h.state(T)).toBe('capped'); // 3 requests this minute
    const next = (Math.floor(T / 60000) + 1) * 60000;
    expect(h.state(next)).toBe('ok');
    h.start(next);
    h.end(100);
    h.end(0);
    expect(h.state(next)).toBe('capped'); // 100 tokens
  });

  it('reads retry-after-ms, retry-after seconds and dates', () => {
    expect(retryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '9' }, T)).toBe(1500);
    expect(retryAfterMs({ 'retry-after': '3' }, T)).toBe(3000);
    expect(retryAfterMs({ 'retry-after': new Date(T + 4000).toUTCString() }, T)).toBe(4000);
    expect(retryAfterMs({ 'retry-after': 'soon' }, T)).toBeUndefined();
    expect(retryAfterMs({}, T)).toBeUndefined();
  });
});

describe('rendezvous hashing', () => {
  const top = (session: string, names: string[]) =>
    names.reduce((best, n) => (rendezvousScore(hash32(session), hash32(n), 1) > rendezvousScore(hash32(session), hash32(best), 1) ? n : best));

  it('spreads sessions evenly and moves only about a quarter of them when a fourth upstream joins', () => {
    const sessions = Array.from({ length: 3000 }, (_, i) => `session-${i}`);
    const before = sessions.map((s) => top(s, ['a', 'b', 'c']));
    for (const n of ['a', 'b', 'c']) expect(before.filter((x) => x === n).length).toBeGreaterThan(850);
    const after = sessions.map((s) => top(s, ['a', 'b', 'c', 'd']));
    const moved = sessions.filter((_, i) => before[i] !== after[i]);
    // Every session that moved went to the new upstream.
    expect(moved.every((s) => after[sessions.indexOf(s)] === 'd')).toBe(true);
    expect(moved.length / sessions.length).toBeGreaterThan(0.2);
    expect(moved.length / sessions.length).toBeLessThan(0.3);
  });
});
