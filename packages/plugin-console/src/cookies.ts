import type { RouteRequest } from '@tollgate/core';

export const COOKIE = 'tollgate_console';

/** The session id from the request's Cookie header. */
export function sessionCookie(req: RouteRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/**
 * The Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * sends it), scoped to /ui, and Secure over HTTPS. `maxAge` 0 clears it.
 */
export function setCookie(value: string, o: { secure: boolean; maxAgeSeconds: number }): string {
  return `${COOKIE}=${value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${o.maxAgeSeconds}${o.secure ? '; Secure' : ''}`;
}

/** True when the request reached the gateway, or the proxy in front of it, over HTTPS. */
export function cameOverHttps(req: RouteRequest): boolean {
  const forwarded = req.headers['x-forwarded-proto'];
  const proto = Array.isArray(forwarded) ? forwarded[0] : forwarded;
  return proto?.split(',')[0].trim() === 'https' || Boolean((req.raw.req.socket as { encrypted?: boolean }).encrypted);
}

/**
 * A browser names the page a request came from in `Origin` (always on POST from a page); a
 * state-changing call must come from this gateway's own pages. Absent (curl) is allowed: CSRF
 * needs a browser, and the browser always sends it on POST.
 */
export function sameOrigin(req: RouteRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const host = req.headers['x-forwarded-host'] ?? req.headers.host;
  try {
    return new URL(origin).host === (Array.isArray(host) ? host[0] : host);
  } catch {
    return false; // "null" or garbage: not one of ours
  }
}
