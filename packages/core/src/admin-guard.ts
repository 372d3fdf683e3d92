import type { InjectionToken } from 'tsyringe';
import type { RouteRequest } from './router.js';

/**
 * Decides who may call admin routes (/key/*, /spend/*, …). Provided by the auth plugin; a
 * plugin with admin routes resolves it per request and refuses the route when it is absent.
 */
export interface AdminGuard {
  /** Throws a GatewayError (401/403) unless the request carries admin credentials. */
  requireAdmin(req: RouteRequest): void;
}

export const ADMIN_GUARD: InjectionToken<AdminGuard> = Symbol.for('tollgate.admin-guard');
