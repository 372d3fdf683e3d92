import type { RequestContext } from './context.js';

/**
 * The session a request belongs to, for prompt-cache affinity: Claude Code's session id,
 * else `metadata.user_id`, else the end user, else the calling key. Undefined: no session.
 *
 * @example
 * sessionKey(ctx); // 'cc:4f1e…' for a Claude Code request
 */
export function sessionKey(ctx: RequestContext): string | undefined {
  const cc = ctx.request.headers['x-claude-code-session-id'];
  if (typeof cc === 'string' && cc !== '') return `cc:${cc}`;
  if (ctx.route.kind === 'messages' || ctx.route.kind === 'count_tokens') {
    // Parsed already by the adapter's prepare(): this is its cached value.
    const body = ctx.request.json() as { metadata?: { user_id?: unknown } } | undefined;
    const userId = body?.metadata?.user_id;
    if (typeof userId === 'string' && userId !== '') return `u:${userId}`;
  }
  if (ctx.endUser) return `e:${ctx.endUser}`;
  const p = ctx.principal;
  return p?.keyHash ? `k:${p.keyHash}` : undefined;
}

/**
 * 32-bit FNV-1a of a string.
 *
 * @example
 * hash32('abc'); // 440920331
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finalizer: spreads the bits of a combined hash. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Weighted rendezvous (highest random weight) score of one upstream for one session: each
 * session ranks every upstream, and adding or removing an upstream moves only the sessions
 * whose top choice it is (or becomes), in proportion to its weight.
 *
 * @example
 * rendezvousScore(hash32('session'), hash32('upstream-a'), 1);
 */
export function rendezvousScore(sessionHash: number, upstreamSeed: number, weight: number): number {
  const u = (mix(sessionHash ^ upstreamSeed) + 0.5) / 4294967296;
  return weight / -Math.log(u);
}

/** The same score from a random draw: a weighted random order for requests without a session. */
export function randomScore(weight: number): number {
  return weight / -Math.log(1 - Math.random());
}
