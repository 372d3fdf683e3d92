import { GatewayError, type PluginApi, type RouteRequest } from '@tollgate/core';
import type { ConsoleConfig } from './config-schema.js';
import { requireChange, requireSession } from './session-routes.js';
import type { SessionStore } from './sessions.js';

/** The admin routes the console uses: the same ones the CLI calls, nothing of its own. */
export const RELAYED = {
  GET: ['/key/list', '/key/info', '/spend/logs', '/spend/daily', '/spend/report', '/prices'],
  POST: ['/key/generate', '/key/update', '/key/regenerate', '/key/delete', '/key/block', '/key/unblock'],
} as const;

/**
 * `/ui/api/<route>` calls `<route>` on this same gateway over HTTP with the session's key, so
 * the console has exactly the rights of that key and no back door: a virtual key's session
 * meets the admin routes' own scoping. POSTs need the CSRF token.
 */
export function registerAdminRelay(api: PluginApi<ConsoleConfig>, sessions: SessionStore): void {
  for (const method of ['GET', 'POST'] as const) {
    for (const path of RELAYED[method]) {
      api.route(method, `/ui/api${path}`, async (req) => {
        const session = method === 'GET' ? requireSession(req, sessions) : requireChange(req, sessions);
        const res = await fetch(selfUrl(req, path), {
          method,
          headers: { 'x-api-key': session.key, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
          body: method === 'POST' ? JSON.stringify((await req.json()) ?? {}) : undefined,
          signal: AbortSignal.timeout(30_000),
        }).catch((cause: unknown) => {
          throw new GatewayError('TG_ERR_INTERNAL', `the console could not reach ${path} on this gateway`, { cause });
        });
        return { status: res.status, body: await res.json() };
      });
    }
  }
}

/** This gateway's own listening address (the socket the browser's call came in on). */
function selfUrl(req: RouteRequest, path: string): string {
  const socket = req.raw.req.socket;
  const host = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const query = req.query.toString();
  return `http://${host.includes(':') ? `[${host}]` : host}:${socket.localPort}${path}${query ? `?${query}` : ''}`;
}
