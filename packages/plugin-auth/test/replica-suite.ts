import { describe, expect, it } from 'vitest';
import { messageStreamEvents, until } from '@tollgate/testing';
import { MASTER_KEY, type Harness } from './harness.js';

/** Shared by the replica suites of each store (Redis: replicas.test.ts, PostgreSQL: replicas-postgres.test.ts). */
export const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] };

export const post = (h: Harness, key: string, body: object = PARAMS, signal?: AbortSignal) =>
  fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

export async function newKey(h: Harness, fields: object): Promise<string> {
  const res = await fetch(`${h.url}/key/generate`, { method: 'POST', headers: { 'x-api-key': MASTER_KEY, 'content-type': 'application/json' }, body: JSON.stringify(fields) });
  return ((await res.json()) as { key: string }).key;
}

/** `n` requests at once, alternating between the replicas; their statuses, counted. */
export async function burst(hs: Harness[], key: string, n: number): Promise<Record<number, number>> {
  const statuses = await Promise.all(Array.from({ length: n }, (_, i) => post(hs[i % hs.length]!, key).then(async (r) => (await r.arrayBuffer(), r.status))));
  return count(statuses);
}

export function count(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

/** The per-minute limits: start well inside a clock minute, so a burst does not straddle two. */
export async function insideMinute(needMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 200));
}

export interface ReplicaPair {
  a: Harness;
  b: Harness;
  /** Resolves once the store holds no slot of `key` (checked when the store can be read directly). */
  slotsFreed?(key: string): Promise<void>;
}

/** The same bursts against two replicas, whichever store they share their limits through. */
export function exactInBursts(store: string, replicas: () => Promise<ReplicaPair>): void {
  describe(`limits shared through ${store} are exact in bursts`, () => {
    it('rpm_limit 10 over two replicas admits exactly 10 of a burst of 40, and none of a burst after a quiet gap', async () => {
      const { a, b } = await replicas();
      const key = await newKey(a, { rpm_limit: 10 });
      await insideMinute(30_000);
      expect(await burst([a, b], key, 40)).toEqual({ 200: 10, 429: 30 });
      // A quiet gap: nothing a replica remembers locally lets more through.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await burst([b, a], key, 20)).toEqual({ 429: 20 });
      expect(a.mock.requests.length + b.mock.requests.length).toBe(10);
    }, 90_000);

    it('max_parallel_requests 5 admits exactly 5 of 40 simultaneous streams over two replicas, again after they end, and after aborts', async () => {
      const { a, b, slotsFreed } = await replicas();
      const key = await newKey(a, { max_parallel_requests: 5 });
      // Streams that last a while (10 events, 150 ms apart): the whole burst arrives while they run.
      const slow = { sse: messageStreamEvents({ text: Array.from({ length: 10 }, (_, i) => `w${i}`) }), eventDelayMs: 150 };
      a.mock.route('POST', '/v1/messages', slow);
      b.mock.route('POST', '/v1/messages', slow);
      const stream = { ...PARAMS, stream: true };
      const streams = async (abort: boolean) => {
        const controllers = Array.from({ length: 40 }, () => new AbortController());
        const responses = await Promise.all(controllers.map((c, i) => post(i % 2 ? b : a, key, stream, c.signal)));
        const statuses = responses.map((r) => r.status);
        await Promise.all(
          responses.map(async (r, i) => {
            if (abort && r.status === 200) return controllers[i]!.abort();
            await r.arrayBuffer();
          }),
        );
        return count(statuses);
      };
      expect(await streams(false)).toEqual({ 200: 5, 429: 35 });
      // Every stream has ended, so every slot is free again.
      expect(await streams(false)).toEqual({ 200: 5, 429: 35 });
      // Aborted by their clients: the slots are freed as the gateway sees the aborts.
      expect(await streams(true)).toEqual({ 200: 5, 429: 35 });
      await until(async () => a.completed.length + b.completed.length === 120, 10_000);
      expect(await streams(false)).toEqual({ 200: 5, 429: 35 });
      await slotsFreed?.(key);
    });
  });
}
