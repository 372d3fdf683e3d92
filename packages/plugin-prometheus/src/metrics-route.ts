import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError, type AdminGuard, type RouteHandler, type RouteRequest } from '@tollgate/core';
import type { Registry } from 'prom-client';

export interface MetricsAccess {
  /** When false, anyone who can reach the gateway may scrape. */
  required: boolean;
  /** A key only for scraping. */
  metricsKey?: string;
  /** Admin credentials (the master key), when an auth plugin provides them. */
  guard?: AdminGuard;
}

/**
 * `GET /metrics` in the Prometheus text format. With a key required, the scrape must carry
 * the metrics key or admin credentials, as `Authorization: Bearer <key>` (Prometheus's
 * `authorization` setting) or `x-api-key`.
 */
export function metricsHandler(registry: Registry, access: () => MetricsAccess): RouteHandler {
  return async (req) => {
    authorize(req, access());
    const body = await registry.metrics();
    const res = req.raw.res;
    res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return undefined;
  };
}

function authorize(req: RouteRequest, a: MetricsAccess): void {
  if (!a.required) return;
  const presented = presentedKey(req.headers);
  if (a.metricsKey !== undefined && presented !== undefined && sameKey(presented, a.metricsKey)) return;
  if (a.guard) return a.guard.requireAdmin(req);
  if (presented === undefined) throw new GatewayError('TG_ERR_AUTH_MISSING_KEY', '/metrics needs a key: send it as "Authorization: Bearer <key>" or in x-api-key');
  throw new GatewayError('TG_ERR_AUTH_INVALID_KEY', '/metrics needs the metrics key');
}

function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.trim()) return apiKey.trim();
  const token = /^bearer[ \t]+(.+)$/i.exec(headers.authorization ?? '')?.[1].trim();
  return token || undefined;
}

/** Constant time whatever the lengths: both sides are hashed first. */
function sameKey(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}
