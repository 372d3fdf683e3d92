import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a route handler returns; `body` is sent as JSON. */
export interface RouteReply {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface RouteRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  /** The body parsed as JSON (undefined when empty); throws a 400 GatewayError when invalid. */
  json(): Promise<unknown>;
  readonly raw: { req: IncomingMessage; res: ServerResponse };
}

/** Returns a reply, or undefined when it wrote to `raw.res` itself. */
export type RouteHandler = (req: RouteRequest) => RouteReply | undefined | Promise<RouteReply | undefined>;

/** Exact method + path routes for health and admin APIs. Provider mounts are matched separately. */
export class Router {
  private readonly routes = new Map<string, RouteHandler>();
  private readonly paths = new Set<string>();

  add(method: string, path: string, handler: RouteHandler): void {
    const key = `${method.toUpperCase()} ${path}`;
    if (this.routes.has(key)) throw new Error(`route ${key} is already registered`);
    this.routes.set(key, handler);
    this.paths.add(path);
  }

  find(method: string, path: string): RouteHandler | undefined {
    return this.routes.get(`${method} ${path}`) ?? (method === 'HEAD' ? this.routes.get(`GET ${path}`) : undefined);
  }

  /** True when the path exists under another method (→ 405 instead of 404). */
  hasPath(path: string): boolean {
    return this.paths.has(path);
  }

  /** A route path at or under `mountPath`, which a provider mounted there would hide. */
  pathUnder(mountPath: string): string | undefined {
    for (const path of this.paths) if (path === mountPath || path.startsWith(`${mountPath}/`)) return path;
    return undefined;
  }
}
