import type { Reply, ReplyFn } from './reply.js';

export type RouteReply = Reply | ReplyFn;

interface Route {
  method: string;
  path: string | RegExp;
  reply: RouteReply;
}

/**
 * Scripted routes. One-shot routes are checked first, oldest first, and removed when used;
 * then persistent routes, newest first (a later `route()` overrides an earlier one).
 * Method `*` matches any method; a string path matches the pathname exactly, a RegExp tests it.
 */
export class RouteTable {
  private oneShot: Route[] = [];
  private persistent: Route[] = [];

  add(method: string, path: string | RegExp, reply: RouteReply): void {
    this.persistent.unshift({ method: method.toUpperCase(), path, reply });
  }

  addOnce(method: string, path: string | RegExp, reply: RouteReply): void {
    this.oneShot.push({ method: method.toUpperCase(), path, reply });
  }

  /** The reply for a request, consuming a matching one-shot route; undefined when nothing matches. */
  take(method: string, pathname: string): RouteReply | undefined {
    const index = this.oneShot.findIndex((route) => matches(route, method, pathname));
    if (index >= 0) return this.oneShot.splice(index, 1)[0].reply;
    return this.persistent.find((route) => matches(route, method, pathname))?.reply;
  }

  clear(): void {
    this.oneShot = [];
    this.persistent = [];
  }
}

function matches(route: Route, method: string, pathname: string): boolean {
  if (route.method !== '*' && route.method !== method.toUpperCase()) return false;
  if (typeof route.path === 'string') return route.path === pathname;
  route.path.lastIndex = 0; // a /g or /y RegExp is stateful
  return route.path.test(pathname);
}
