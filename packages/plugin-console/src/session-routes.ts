import { GatewayError, type AdminGuard, type PluginApi, type RouteRequest } from '@tollgate/core';
import { cameOverHttps, sameOrigin, sessionCookie, setCookie } from './cookies.js';
import type { ConsoleConfig } from './config-schema.js';
import { csrfMatches, type Session, type SessionStore } from './sessions.js';
import { clientAddress, type SignInLimit } from './sign-in-limit.js';

/**
 * Sign-in, who-am-I and sign-out. Sign-in takes the master key or a virtual key in a JSON body
 * (a cross-site form cannot send JSON, and `Origin` must be this gateway); the key is checked
 * by the auth plugin's admin guard, at most `limit` allows wrong ones per client address, and
 * then kept in the session, on the server.
 */
export function registerSessionRoutes(o: { api: PluginApi<ConsoleConfig>; sessions: SessionStore; guard: () => AdminGuard; limit: SignInLimit }): void {
  const { api, sessions, guard, limit } = o;
  const maxAgeSeconds = api.config.sessionTtlMinutes * 60;
  const secure = (req: RouteRequest) => api.config.secureCookie === 'always' || (api.config.secureCookie === 'auto' && cameOverHttps(req));

  api.route('GET', '/ui/session', (req) => ({ body: sessionView(requireSession(req, sessions)) }));

  api.route('POST', '/ui/session', async (req) => {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      throw new GatewayError('TG_ERR_BAD_REQUEST', 'sign in with a JSON body {"key": "..."}');
    }
    if (!sameOrigin(req)) throw new GatewayError('TG_ERR_FORBIDDEN', 'sign-in must come from this gateway\'s own page');
    const body = (await req.json()) as { key?: unknown } | undefined;
    const key = typeof body?.key === 'string' ? body.key.trim() : '';
    if (!key) throw new GatewayError('TG_ERR_AUTH_MISSING_KEY', 'enter the master key or a virtual key');
    const attempt = limit.take(clientAddress(req, api.config.clientAddressHeader));
    const scope = await guard()
      .scope({ ...req, headers: { 'x-api-key': key } })
      .catch((err: unknown) => {
        // Only a refused key counts: a database outage is not the client's guess.
        if (!(err instanceof GatewayError && err.status === 401)) attempt.cancel();
        throw err;
      });
    attempt.cancel();
    const session = sessions.create({ key, role: scope.role, keyAlias: scope.role === 'key' ? scope.keyAlias : null });
    api.log.info({ role: session.role, keyAlias: session.keyAlias }, 'console sign-in');
    return { headers: { 'set-cookie': setCookie(session.id, { secure: secure(req), maxAgeSeconds }) }, body: sessionView(session) };
  });

  api.route('POST', '/ui/session/end', (req) => {
    const session = requireChange(req, sessions);
    sessions.end(session.id);
    return { headers: { 'set-cookie': setCookie('', { secure: secure(req), maxAgeSeconds: 0 }) }, body: { signed_out: true } };
  });
}

/** The signed-in session, or 401. */
export function requireSession(req: RouteRequest, sessions: SessionStore): Session {
  const session = sessions.touch(sessionCookie(req));
  if (!session) throw new GatewayError('TG_ERR_AUTH_MISSING_KEY', 'not signed in to the console (or the session ended)');
  return session;
}

/**
 * The session for a state-changing call: besides the cookie, the page's CSRF token in
 * `x-tollgate-csrf` (another site can neither read it nor send a custom header without a
 * CORS preflight the gateway never grants) and an Origin of this gateway.
 */
export function requireChange(req: RouteRequest, sessions: SessionStore): Session {
  const session = requireSession(req, sessions);
  if (!csrfMatches(session, req.headers['x-tollgate-csrf']) || !sameOrigin(req)) {
    throw new GatewayError('TG_ERR_FORBIDDEN', 'missing or wrong CSRF token: reload the console');
  }
  return session;
}

function sessionView(s: Session) {
  return { role: s.role, key_alias: s.keyAlias, csrf: s.csrf };
}
