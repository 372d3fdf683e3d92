import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { readBody } from './body.js';
import { GatewayError, sendable, toGatewayError } from './errors.js';
import { sendError, sendReply } from './proxy.js';
import { REQUEST_ID_HEADER, requestId } from './request-id.js';
import type { Router, RouteRequest } from './router.js';

/** Body limit for admin and health routes: they take small JSON documents. */
const ROUTE_BODY_LIMIT = 1024 * 1024;

/** Serves a non-provider route (health, admin APIs added by plugins), or 404/405. */
export async function runRoute(router: Router, req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://gateway');
  const id = requestId();
  res.setHeader(REQUEST_ID_HEADER, id);
  try {
    const handler = router.find(method, url.pathname);
    if (!handler) {
      if (router.hasPath(url.pathname)) throw new GatewayError('TG_ERR_METHOD_NOT_ALLOWED', `method ${method} is not allowed on ${url.pathname}`);
      throw new GatewayError('TG_ERR_NOT_FOUND', `no route for ${method} ${url.pathname}`);
    }
    for (const [k, v] of url.searchParams) if (hasNul(k) || hasNul(v)) throw noNul('query parameters');
    let parsed: Promise<unknown> | undefined;
    const request: RouteRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      raw: { req, res },
      json: () =>
        (parsed ??= readBody(req, ROUTE_BODY_LIMIT).then((body) => {
          if (body.length === 0) return undefined;
          let nul = false;
          let value: unknown;
          try {
            value = JSON.parse(body.toString('utf8'), (k, v: unknown) => {
              nul ||= hasNul(k) || (typeof v === 'string' && hasNul(v));
              return v;
            });
          } catch {
            throw new GatewayError('TG_ERR_INVALID_JSON', 'request body is not valid JSON');
          }
          if (nul) throw noNul('strings in the request body');
          return value;
        })),
    };
    const reply = await handler(request);
    if (reply) sendReply(res, { status: reply.status ?? 200, headers: reply.headers, body: reply.body });
  } catch (err) {
    const e = sendable(toGatewayError(err));
    if (e.code === 'TG_ERR_INTERNAL' || e.code === 'TG_ERR_BAD_HEADER') log.error({ err, reqId: id, path: url.pathname }, 'route handler failed');
    sendError(res, e);
  }
}

/**
 * The admin APIs refuse NUL characters: no key alias, user or filter needs one, and PostgreSQL
 * cannot store or compare text holding one (it failed as a 500).
 */
const hasNul = (s: string) => s.includes('\0');
const noNul = (what: string) => new GatewayError('TG_ERR_BAD_REQUEST', `${what} must not contain NUL characters`);
