import type { InjectionToken } from 'tsyringe';
import type { RouteRequest } from './router.js';

/**
 * Who an admin route is serving: the master key (everything), or one virtual key that may
 * read only its own rows (`keyHash` is the key's stored SHA-256 token).
 */
export type AdminScope = { role: 'admin' } | { role: 'key'; keyHash: string; keyAlias: string | null };

/**
 * Decides who may call admin routes (/key/*, /spend/*, …). Provided by the auth plugin; a
 * plugin with admin routes resolves it per request and refuses the route when it is absent.
 */
export interface AdminGuard {
  /** Throws a GatewayError (401/403) unless the request carries admin credentials. */
  requireAdmin(req: RouteRequest): void;
  /**
   * For read routes a virtual key may use on its own data: the master key gives
   * `{ role: 'admin' }`, a known virtual key `{ role: 'key', … }`; anything else throws 401.
   */
  scope(req: RouteRequest): Promise<AdminScope>;
}

export const ADMIN_GUARD: InjectionToken<AdminGuard> = Symbol.for('tollgate.admin-guard');
