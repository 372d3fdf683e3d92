import type { Server } from 'node:http';
import type { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import { GatewayError } from './errors.js';
import type { GatewayEvents } from './events.js';
import type { InFlight } from './in-flight.js';
import type { CloseContext } from './plugin.js';
import { sendError } from './proxy.js';
import type { UpstreamPool } from './upstream-pool.js';

/** An `api.onClose` callback, with the plugin that registered it (for the logs). */
export interface Closer {
  plugin: string;
  close: (c: CloseContext) => void | Promise<void>;
}

/** The most of the grace kept for the plugins to close in (a stalled database's rows spooled). */
const MAX_CLOSE_RESERVE_MS = 2000;

/**
 * How long before the end of a shutdown grace in-flight requests are cut, so the plugins
 * still have time to close within it: a quarter of the grace, at most 2 s.
 *
 * @example
 * closeReserveMs(30_000); // 2000: requests run 28 s, plugins close in the last 2 s
 * closeReserveMs(2000); // 500
 */
export function closeReserveMs(graceMs: number): number {
  return Math.min(MAX_CLOSE_RESERVE_MS, Math.floor(graceMs / 4));
}

/**
 * The whole shutdown, within `graceMs`: stop accepting; let in-flight requests finish until
 * `closeReserveMs` before the end, then cut them; run the closers with the end as their
 * deadline; close the upstream pools and flush the log.
 */
export async function shutdown(s: {
  server: Server;
  inFlight: InFlight;
  graceMs: number;
  closers: readonly Closer[];
  pools: Map<string, UpstreamPool>;
  log: Logger;
  events: EventEmitter<GatewayEvents>;
}): Promise<void> {
  const deadline = Date.now() + s.graceMs;
  const cutAt = deadline - closeReserveMs(s.graceMs);
  s.events.emit('gateway:closing');
  const closed = new Promise<void>((resolve) => s.server.close(() => resolve()));
  s.server.closeIdleConnections();
  while (s.inFlight.size > 0 && Date.now() < cutAt) await new Promise((r) => setTimeout(r, 20));
  if (s.inFlight.size > 0) {
    s.log.warn({ inFlight: s.inFlight.size, closeReserveMs: deadline - Date.now() }, 'grace period over: cutting in-flight requests');
    for (const ctx of s.inFlight.list()) {
      // The client is told why, not sent a bare TCP reset: the upstream call ends a stream
      // with an SSE `error` event; a request without a response yet gets a 503. Nothing is
      // sent to a client that already left.
      const clientGone = ctx.aborted;
      ctx.abort(CUT_AT_SHUTDOWN);
      if (!clientGone && !ctx.raw.res.headersSent) sendError(ctx.raw.res, CUT_AT_SHUTDOWN, ctx.id);
    }
    // A cut request ends at once, and its completion books it (the ledger row the closers then
    // write): worth the wait, but not past the deadline.
    while (s.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
  s.server.closeAllConnections();
  await closed;
  await runClosers(s.closers, deadline, s.log);
  await Promise.all([...s.pools.values()].map((p) => p.close()));
  await new Promise<void>((resolve) => s.log.flush(() => resolve()));
}

/**
 * Runs the closers in reverse order of registration, one after another, each given the
 * deadline and a signal that aborts at it. A failing one is logged and the others still run;
 * one that resolves past the deadline is named in a warning (it delayed the exit).
 */
export async function runClosers(closers: readonly Closer[], deadline: number, log: Logger): Promise<void> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new Error('the shutdown deadline passed')), Math.max(0, deadline - Date.now()));
  const c: CloseContext = { deadline, signal: stop.signal };
  try {
    for (const { plugin, close } of [...closers].reverse()) {
      const started = Date.now();
      try {
        await close(c);
      } catch (err) {
        log.error({ err, plugin }, 'a plugin failed to close');
      }
      // Its own overrun: one that starts late because another overran is not to blame.
      const overMs = Date.now() - Math.max(deadline, started);
      if (overMs > OVERRUN_WARN_MS) log.warn({ plugin, overMs }, 'a plugin was still closing past the shutdown deadline');
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Timers fire a little late on a busy event loop: an overrun below this is not news. */
const OVERRUN_WARN_MS = 50;

const CUT_AT_SHUTDOWN = new GatewayError('TG_ERR_SHUTTING_DOWN', 'the gateway shut down before this response was complete', { headers: { connection: 'close' } });
