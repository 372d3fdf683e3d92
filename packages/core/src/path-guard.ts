import { GatewayError } from './errors.js';

// Dot segments, backslashes and their percent-encoded forms, and encoded slashes.
const UNSAFE = /(^|\/)\.{1,2}(\/|$)|\\|%2e|%2f|%5c|%00/i;

/**
 * Rejects a path below a provider mount that could step outside the upstream base path or
 * confuse a server about where it points: `..`, `.`, `//` at the start, backslashes and their
 * percent-encoded forms. The upstream origin is fixed separately, so no path can change host.
 *
 * @example
 * assertSafePath('/v1/messages'); // ok
 * assertSafePath('/../admin');    // throws TG_ERR_BAD_PATH
 */
export function assertSafePath(path: string): void {
  if (path[0] !== '/' || path.startsWith('//') || UNSAFE.test(path)) {
    throw new GatewayError('TG_ERR_BAD_PATH', 'invalid request path');
  }
}
