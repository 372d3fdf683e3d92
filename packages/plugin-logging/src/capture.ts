import type { RequestContext } from '@tollgate/core';
import type { CaptureConfig } from './config-schema.js';
import type { CapturedBody } from './record-view.js';

export const REDACTED = '[redacted]';

/** Field names redacted wherever they appear, whatever the config says (compared lowercased). */
const ALWAYS_REDACTED = new Set(['api_key', 'apikey', 'authorization', 'x-api-key', 'x-tollgate-key']);
const NO_PATHS: readonly string[][] = [];

/**
 * Splits a redaction path into segments: `messages[*].content` and `messages.*.content` are
 * the same path; `*` matches any key or array index.
 *
 * @example
 * parsePath('messages[0].content'); // ['messages', '0', 'content']
 */
export function parsePath(path: string): string[] {
  return path
    .replace(/\[(\*|\d+)\]/g, '.$1')
    .split('.')
    .filter((s) => s.length > 0);
}

/**
 * Returns a redacted copy of a JSON value: the given paths and every always-secret field name
 * become "[redacted]"; strings longer than `maxChars` are cut (the copy is about to be cut
 * at that size anyway, and a 10 MB image should not be copied to keep 16 kB of it).
 * The original is never touched: it is what the gateway forwards.
 */
export function redact(value: unknown, paths: readonly string[][], maxChars = Infinity): unknown {
  if (typeof value === 'string') return value.length > maxChars ? value.slice(0, maxChars) : value;
  if (Array.isArray(value)) return value.map((v, i) => redactChild(String(i), v, paths, maxChars));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = redactChild(key, v, paths, maxChars);
  return out;
}

function redactChild(key: string, value: unknown, paths: readonly string[][], maxChars: number): unknown {
  if (ALWAYS_REDACTED.has(key.toLowerCase())) return REDACTED;
  let rest: string[][] | undefined;
  for (const p of paths) {
    if (p[0] !== '*' && p[0] !== key) continue;
    if (p.length === 1) return REDACTED;
    (rest ??= []).push(p.slice(1));
  }
  return redact(value, rest ?? NO_PATHS, maxChars);
}

/** Serializes a redacted body and cuts it at `maxBytes` of UTF-8, on a character boundary. */
export function captureBody(body: unknown, paths: readonly string[][], maxBytes: number): CapturedBody {
  const text = JSON.stringify(redact(body, paths, maxBytes)) ?? 'null';
  if (text.length * 3 <= maxBytes) return { text, truncated: false };
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { text, truncated: false };
  let end = maxBytes;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString('utf8'), truncated: true };
}

/** The request body as forwarded upstream, redacted and cut; nothing for an empty body. */
export function captureRequest(ctx: RequestContext, paths: readonly string[][], maxBytes: number): CapturedBody | undefined {
  const size = ctx.request.body.length;
  if (size === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = ctx.request.json();
  } catch {
    // Not JSON (the gateway has already answered 400 if the route needed JSON): no content kept.
    return { text: `<${size} bytes, not JSON>`, truncated: false };
  }
  return captureBody(parsed, paths, maxBytes);
}

/** True when the config captures anything at all. */
export function isCaptureOn(config: CaptureConfig): boolean {
  return config.routes.length > 0 && (config.request || config.response);
}
