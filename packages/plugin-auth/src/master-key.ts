import { inspect } from 'node:util';
import { hashKey } from './keys.js';

/** Where the master key came from, for the boot log (never the key itself). */
export type MasterKeySource = 'config' | 'env TOLLGATE_MASTER_KEY' | 'env LITELLM_MASTER_KEY';

/**
 * The gateway's master key, held only as its SHA-256 digest (hex, like a virtual key's token).
 * Comparison hashes the candidate too and compares the two digests without an early exit, so
 * it takes the same time whatever the candidate's length or content. Printing or serializing
 * the object never shows the key.
 *
 * @example
 * const master = new MasterKey('sk-tg-master');
 * master.matches('sk-tg-master'); // true
 * master.matches('guess');        // false
 */
export class MasterKey {
  readonly #token: string;

  constructor(key: string) {
    if (typeof key !== 'string' || key === '') throw new TypeError('a master key must be a non-empty string');
    this.#token = hashKey(key);
  }

  /** Constant-time check of a presented key; `undefined` (no key) never matches. */
  matches(candidate: string | undefined): boolean {
    if (candidate === undefined) return false;
    return this.matchesToken(hashKey(candidate));
  }

  /**
   * The same check for a key already hashed with `hashKey` (the request path hashes once, for
   * this check and the virtual-key lookup).
   */
  matchesToken(token: string): boolean {
    return sameDigest(token, this.#token);
  }

  toJSON(): string {
    return '[MasterKey]';
  }

  [inspect.custom](): string {
    return '[MasterKey]';
  }
}

/**
 * Compares two hex digests of equal length in time that does not depend on where they differ.
 * (`timingSafeEqual` needs Buffers: a hex digest costs ~0.3 µs, a Buffer digest ~1 µs.)
 */
function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * True when `candidate` is the master key (constant time).
 *
 * @example
 * isMasterKey(readClientKey(req.headers), master);
 */
export function isMasterKey(candidate: string | undefined, master: MasterKey): boolean {
  return master.matches(candidate);
}

/**
 * Finds the master key: the plugin config first, then env `TOLLGATE_MASTER_KEY`, then env
 * `LITELLM_MASTER_KEY` (for configs migrated from LiteLLM). Empty env values count as unset.
 * Returns undefined when none is set: the gateway runs open.
 *
 * @example
 * resolveMasterKey(undefined, { TOLLGATE_MASTER_KEY: 'sk-tg-master' })?.source; // 'env TOLLGATE_MASTER_KEY'
 */
export function resolveMasterKey(
  configured: string | null | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { key: MasterKey; source: MasterKeySource } | undefined {
  if (configured) return { key: new MasterKey(configured), source: 'config' };
  if (env.TOLLGATE_MASTER_KEY) return { key: new MasterKey(env.TOLLGATE_MASTER_KEY), source: 'env TOLLGATE_MASTER_KEY' };
  if (env.LITELLM_MASTER_KEY) return { key: new MasterKey(env.LITELLM_MASTER_KEY), source: 'env LITELLM_MASTER_KEY' };
  return undefined;
}
