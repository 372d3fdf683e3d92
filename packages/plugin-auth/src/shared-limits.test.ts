import { describe, expect, it } from 'vitest';
import type { Logger } from '@tollgate/core';
import { SharedLimits, type SharedCounters } from './shared-limits.js';

/** A store that admits at once and never answers when asked to free slots (a stalled Redis or PostgreSQL). */
function stalledOnFree(): SharedCounters & { freeAsked: Promise<void> } {
  let asked!: () => void;
  const freeAsked = new Promise<void>((resolve) => (asked = resolve));
  const nothing = async () => undefined;
  return {
    name: 'stalled',
    freeAsked,
    admit: async () => ({ verdict: 'ok', spend: undefined }),
    seedSpend: async (_t, spend) => spend,
    readSpend: nothing,
    bookSpend: nothing,
    release: nothing,
    refreshSlots: nothing,
    freeSlots: () => {
      asked();
      return new Promise<void>(() => undefined);
    },
    dropSpend: nothing,
  };
}

describe('SharedLimits.close', () => {
  it('stops waiting for a store that does not answer when the shutdown deadline aborts', async () => {
    const counters = stalledOnFree();
    const limits = new SharedLimits(counters, { slotTtlMs: 30_000, retryMs: 1000, log: { info: () => undefined, warn: () => undefined } as unknown as Logger });
    const verdict = await limits.admit({ token: 'k', rpmLimit: null, tpmLimit: null, maxParallelRequests: 1, budgetLine: undefined, now: Date.now() });
    expect(verdict).toMatchObject({ admitted: true });

    const deadline = new AbortController();
    let closed = false;
    const closing = limits.close(deadline.signal).then(() => (closed = true));
    // The slot it holds is being freed in the store, which never answers.
    await counters.freeAsked;
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    deadline.abort();
    await closing;
    expect(closed).toBe(true);
  });
});
