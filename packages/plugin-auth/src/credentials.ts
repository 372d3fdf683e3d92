import type { IncomingHttpHeaders } from 'node:http';

/** Request headers as node:http (or a plain object with lower-case names) gives them. */
export type HeaderBag = IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>>;

const BEARER = /^bearer[ \t]+(.+)$/i;

/**
 * The key a client presented: the gateway's own key header when given (`clients.keyHeader`,
 * e.g. `x-tollgate-key`), else the `x-api-key` header, else the token of an
 * `Authorization: Bearer <key>` header (the scheme is case-insensitive). `x-api-key` wins
 * over Bearer when both are sent, as it is Anthropic's own header. Empty values count as absent.
 *
 * @example
 * readClientKey({ 'x-api-key': 'sk-tg-1' });           // 'sk-tg-1'
 * readClientKey({ authorization: 'bearer sk-tg-1' });  // 'sk-tg-1'
 * readClientKey({ authorization: 'Basic dTpw' });      // undefined
 * readClientKey({ 'x-tollgate-key': 'sk-tg-1', 'x-api-key': 'sk-ant-…' }, 'x-tollgate-key'); // 'sk-tg-1'
 */
export function readClientKey(headers: HeaderBag, keyHeader?: string): string | undefined {
  const own = keyHeader === undefined ? undefined : single(headers[keyHeader]);
  if (own) return own;
  const apiKey = single(headers['x-api-key']);
  if (apiKey) return apiKey;
  const authorization = single(headers.authorization);
  if (!authorization) return undefined;
  const token = BEARER.exec(authorization)?.[1].trim();
  return token || undefined;
}

// node:http joins repeated unknown headers with ", "; an array only comes from hand-built objects.
function single(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  const trimmed = v?.trim();
  return trimmed || undefined;
}

/**
 * The upstream credential a client sent of its own, beside a gateway key in `keyHeader`:
 * `client_key` for an `x-api-key`, `subscription` for an OAuth `Authorization: Bearer` token
 * (Claude Code's claude.ai login). Undefined when the gateway key came in x-api-key or Bearer
 * (then those headers hold the gateway key, not a credential of the client's).
 *
 * @example
 * ownCredential({ 'x-tollgate-key': 'sk-tg-1', authorization: 'Bearer sk-ant-oat01-…' }, 'x-tollgate-key'); // 'subscription'
 */
export function ownCredential(headers: HeaderBag, keyHeader: string): 'client_key' | 'subscription' | undefined {
  if (!single(headers[keyHeader])) return undefined;
  if (single(headers['x-api-key'])) return 'client_key';
  const authorization = single(headers.authorization);
  return authorization && BEARER.exec(authorization)?.[1].trim() ? 'subscription' : undefined;
}
