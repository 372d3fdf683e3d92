import { GatewayError, type AdminScope, type PluginApi, type RouteRequest } from '@tollgate/core';
import { readClientKey } from './credentials.js';
import { parseBody, type KeyFields } from './key-requests.js';
import { toToken, type KeyService } from './key-service.js';
import type { MasterKey } from './master-key.js';

/**
 * The `/key/*` admin API, in LiteLLM's shapes so existing scripts keep working. Every route
 * needs the master key; without one configured, key management is refused outright.
 */
export function registerAdminRoutes(api: PluginApi<unknown>, service: KeyService, master: MasterKey | undefined): void {
  const admin = (method: string, path: string, handler: (req: RouteRequest) => Promise<unknown>) =>
    api.route(method, path, async (req) => {
      requireMaster(req, master);
      return { body: await handler(req) };
    });
  admin('POST', '/key/generate', async (req) => service.generate(parseBody('generate', await req.json()) as KeyFields));
  // A virtual key may read its own row (LiteLLM allows the same): `key` omitted or its own.
  api.route('GET', '/key/info', async (req) => {
    const scope = await adminScope(req, master, service);
    if (scope.role === 'admin') return { body: await service.info(requiredQuery(req, 'key')) };
    const asked = req.query.get('key');
    if (asked && toToken(asked) !== scope.keyHash) {
      throw new GatewayError('TG_ERR_FORBIDDEN', 'a virtual key may read only its own info');
    }
    return { body: await service.info(scope.keyHash) };
  });
  admin('POST', '/key/update', async (req) => {
    const { key, ...fields } = parseBody('update', await req.json());
    return service.update(key as string, fields);
  });
  admin('POST', '/key/regenerate', async (req) => {
    const { key, ...fields } = parseBody('regenerate', await req.json());
    return service.regenerate(key as string, fields);
  });
  admin('POST', '/key/delete', async (req) => service.delete(parseBody('delete', await req.json())));
  admin('GET', '/key/list', async (req) => service.list(req.query));
  admin('POST', '/key/block', async (req) => service.update(parseBody('key', await req.json()).key as string, { blocked: true }));
  admin('POST', '/key/unblock', async (req) => service.update(parseBody('key', await req.json()).key as string, { blocked: false }));
}

/** The admin check other plugins use through ADMIN_GUARD: the master key, nothing else. */
export function requireMaster(req: RouteRequest, master: MasterKey | undefined): void {
  if (!master) throw new GatewayError('TG_ERR_FORBIDDEN', 'key management needs a master key: set TOLLGATE_MASTER_KEY');
  const presented = readClientKey(req.headers);
  if (presented === undefined) throw new GatewayError('TG_ERR_AUTH_MISSING_KEY', 'the admin API needs the master key');
  if (!master.matches(presented)) throw new GatewayError('TG_ERR_AUTH_INVALID_KEY', 'the admin API needs the master key');
}

/**
 * The master key is the admin; a stored virtual key (blocked and expired ones included: they
 * may still read what they spent) is scoped to itself. Anything else is refused with 401.
 */
export async function adminScope(req: RouteRequest, master: MasterKey | undefined, service: KeyService): Promise<AdminScope> {
  const presented = readClientKey(req.headers);
  if (presented === undefined) throw new GatewayError('TG_ERR_AUTH_MISSING_KEY', 'this route needs the master key or a virtual key');
  if (master?.matches(presented)) return { role: 'admin' };
  const key = await service.find(presented).catch((err: unknown) => {
    if (err instanceof GatewayError && err.code === 'TG_ERR_NOT_FOUND') return undefined;
    throw err;
  });
  if (!key) throw new GatewayError('TG_ERR_AUTH_INVALID_KEY', 'this route needs the master key or a virtual key');
  return { role: 'key', keyHash: key.token, keyAlias: key.keyAlias };
}

function requiredQuery(req: RouteRequest, name: string): string {
  const v = req.query.get(name);
  if (!v) throw new GatewayError('TG_ERR_BAD_REQUEST', `query parameter ${name} is required`);
  return v;
}
