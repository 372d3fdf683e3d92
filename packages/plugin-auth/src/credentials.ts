import type { IncomingHttpHeaders } from 'node:http';

/** Request headers as node:http (or a plain object with lower-case names) gives them. */
export type HeaderBag = IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>>;

const BEARER = /^bearer[ \t]+(.+)$/i;

/**
 * The key a client presented: the `x-api-key` header, else the token of an
 * `Authorization: Bearer <key>` header (the scheme is case-insensitive). `x-api-key` wins
 * when both are sent, as it is Anthropic's own header. Empty values count as absent.
 *
 * @example
 * readClientKey({ 'x-api-key': 'sk-tg-1' });           // 'sk-tg-1'
 * readClientKey({ authorization: 'bearer sk-tg-1' });  // 'sk-tg-1'
 * readClientKey({ authorization: 'Basic dTpw' });      // undefined
 */
export function readClientKey(headers: HeaderBag): string | undefined {
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
