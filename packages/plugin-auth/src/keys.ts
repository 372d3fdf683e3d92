import { hash, randomBytes } from 'node:crypto';

/**
 * A new virtual key: `sk-` and 32 base64url characters (192 random bits).
 *
 * @example
 * generateKey(); // 'sk-Xq3…'
 */
export function generateKey(): string {
  return `sk-${randomBytes(24).toString('base64url')}`;
}

/**
 * The only form a key is stored in: its SHA-256, hex (LiteLLM's `token`).
 *
 * @example
 * hashKey('sk-abc'); // '5a3f…'
 */
export function hashKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/**
 * How a key is shown after creation: enough to recognise it, never enough to use it.
 *
 * @example
 * keyName('sk-abcdefghijklmnop'); // 'sk-...mnop'
 */
export function keyName(key: string): string {
  return `sk-...${key.slice(-4)}`;
}

/** True for a 64-hex-character hash (a `token`), as opposed to a key. */
export function isKeyHash(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}
