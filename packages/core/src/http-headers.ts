import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and headers the proxy recomputes. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const REQUEST_DROPPED = new Set([...HOP_BY_HOP, 'host', 'content-length', 'expect']);

/**
 * Copies request headers for forwarding, without hop-by-hop headers, `host`,
 * `content-length` (recomputed from the body), anything the `connection` header names, and
 * the extra names given (credentials).
 *
 * @example
 * forwardableRequestHeaders(req.headers, new Set(['x-api-key', 'authorization']));
 */
export function forwardableRequestHeaders(headers: IncomingHttpHeaders, drop: ReadonlySet<string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const c = headers.connection;
  const named = c && c !== 'keep-alive' && c !== 'close' ? connectionTokens(c) : undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || REQUEST_DROPPED.has(name) || drop.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Copies response headers for relaying, without hop-by-hop headers.
 *
 * @example
 * res.writeHead(status, relayableResponseHeaders(upstreamHeaders));
 */
export function relayableResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = headers.connection;
  // Almost always just 'keep-alive' or 'close': nothing else to drop then.
  const named = connection && connection !== 'keep-alive' && connection !== 'close' ? connectionTokens(Array.isArray(connection) ? connection.join(',') : connection) : undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function connectionTokens(value: string): Set<string> {
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/** RFC 9110 token characters: what node:http accepts in a header name. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What node:http refuses in a header value: CR, LF, NUL and other controls but tab. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * The name of the first header node:http would refuse to send (a bad name, or a value that is
 * missing or holds CR, LF or another control character), or `undefined` when all are sendable.
 * Plugins edit headers; checking them here turns what would be a throw deep inside
 * `writeHead` (or undici) into one clear error at the plugin boundary.
 *
 * @example
 * invalidHeader({ 'x-ok': '1', 'x-bad': 'a\r\nb' }); // 'x-bad'
 */
export function invalidHeader(headers: Readonly<Record<string, unknown>> | undefined): string | undefined {
  for (const name in headers) {
    if (!TOKEN.test(name)) return name;
    const value = headers[name];
    if (Array.isArray(value) ? !value.every(isSendable) : !isSendable(value)) return name;
  }
  return undefined;
}

function isSendable(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  return typeof value === 'string' && !BAD_VALUE.test(value);
}

/** A status node:http can write: an integer from 100 to 999. */
export function isSendableStatus(status: unknown): boolean {
  return Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 999;
}
