import { describe, expect, it } from 'vitest';
import { GatewayError } from '@tollgate/core';
import { SignInLimit } from './sign-in-limit.js';

function limit(o: { max?: number; maxAddresses?: number } = {}) {
  let now = 1_000_000;
  const l = new SignInLimit({ max: o.max ?? 3, windowMs: 60_000, maxAddresses: o.maxAddresses ?? 100, now: () => now });
  return { l, advance: (ms: number) => (now += ms) };
}

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('SignInLimit', () => {
  it('refuses past max failures in the window, until the oldest leaves it', () => {
    const { l, advance } = limit();
    l.take('a');
    advance(20_000);
    l.take('a');
    l.take('a');
    const err = refusal(() => l.take('a'));
    expect([err.status, err.type, err.headers]).toEqual([429, 'rate_limit_error', { 'retry-after': '40' }]);
    advance(39_999);
    expect(refusal(() => l.take('a')).headers).toEqual({ 'retry-after': '1' });
    advance(1);
    l.take('a'); // the first failure has left the window
    expect(refusal(() => l.take('a')).headers).toEqual({ 'retry-after': '20' });
  });

  it('counts an attempt from its start, so guesses still being checked fill the limit too', () => {
    const { l } = limit();
    const pending = [l.take('a'), l.take('a'), l.take('a')];
    expect(refusal(() => l.take('a')).status).toBe(429);
    pending[0].cancel(); // that one was the right key
    l.take('a');
  });

  it('does not count a cancelled attempt, nor clear the others with it', () => {
    const { l } = limit();
    l.take('a');
    l.take('a');
    for (let i = 0; i < 50; i++) l.take('a').cancel();
    l.take('a');
    expect(refusal(() => l.take('a')).status).toBe(429);
  });

  it('keeps addresses apart, and remembers at most maxAddresses, dropping the least recently failing', () => {
    const { l } = limit({ max: 1, maxAddresses: 100 });
    l.take('first');
    for (let i = 0; i < 1000; i++) l.take(`other-${i}`);
    expect(l.size).toBe(100);
    expect(refusal(() => l.take('other-999')).status).toBe(429);
    l.take('first'); // forgotten
  });
});
