import type { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { CompletionRecord, GatewayEvents } from './events.js';

/**
 * One info line per proxied request, written from `request:complete` like any exporter.
 * The key appears only as its alias or the first characters of its hash.
 *
 * @example
 * attachAccessLog(gateway.events, gateway.log);
 */
export function attachAccessLog(events: EventEmitter<GatewayEvents>, log: Logger): void {
  const access = log.child({ log: 'access' });
  events.on('request:complete', (r: CompletionRecord) => {
    access.info(
      {
        reqId: r.id,
        method: r.method,
        path: r.path,
        status: r.status,
        model: r.model,
        stream: r.stream,
        caller: r.principal?.keyAlias ?? r.principal?.keyHash?.slice(0, 12) ?? r.principal?.kind,
        endUser: r.endUser,
        durationMs: r.timings.durationMs,
        upstreamMs: r.timings.upstreamMs,
        aborted: r.aborted || undefined,
        error: r.error?.type,
      },
      'request',
    );
  });
}
