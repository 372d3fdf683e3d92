import { hash, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

/** Where the master key came from, for the boot log (never the key itself). */
export type MasterKeySource = 'config' | 'env TOLLGATE_MASTER_KEY' | 'env LITELLM_MASTER_KEY';

/** One-shot SHA-256 (crypto.hash: no Hash object per call). */
export const sha256 = (value: string): Buffer => hash('sha256', value, 'buffer') as unknown as Buffer;

/**
 * The gateway's master key, held only as its SHA-256 digest. Comparison hashes the candidate
 * too, so it takes the same time whatever the candidate's length or content. Printing or
 * serializing the object never shows the key.
 *
 * @example
 * const master = new MasterKey('sk-tg-master');
 * master.matches('sk-tg-master'); // true
 * master.matches('guess');        // false
 */
export class MasterKey {
  readonly #digest: Buffer;

  constructor(key: string) {
    if (typeof key !== 'string' || key === '') throw new TypeError('a master key must be a non-empty string');
    this.#digest = sha256(key);
  }

  /** Constant-time check of a presented key; `undefined` (no key) never matches. */
  matches(candidate: string | undefined): boolean {
    if (candidate === undefined) return false;
    return this.matchesDigest(sha256(candidate));
  }

  /** The same check for a key already hashed with `sha256` (the request path hashes once). */
  matchesDigest(digest: Buffer): boolean {
    return timingSafeEqual(digest, this.#digest);
  }

  toJSON(): string {
    return '[MasterKey]';
  }

  [inspect.custom](): string {
    return '[MasterKey]';
  }
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
