import { GatewayError, type Principal } from '@tollgate/core';
import { readClientKey, type HeaderBag } from './credentials.js';
import type { MasterKey } from './master-key.js';

const HOW = 'send the gateway key in the x-api-key header or as "Authorization: Bearer <key>"';

/**
 * Decides who is calling from the request headers. Without a master key the gateway is open
 * and everyone is `{ kind: 'open' }`. With one, the request must present it; error messages
 * never echo the presented key.
 *
 * @example
 * ctx.principal = authenticate(ctx.request.headers, master);
 */
export function authenticate(headers: HeaderBag, master: MasterKey | undefined): Principal {
  if (!master) return { kind: 'open' };
  const key = readClientKey(headers);
  if (key === undefined) throw new GatewayError('TG_ERR_AUTH_MISSING_KEY', `missing API key: ${HOW}`);
  if (!master.matches(key)) throw new GatewayError('TG_ERR_AUTH_INVALID_KEY', 'invalid API key');
  return { kind: 'master' };
}
