import type { EventEmitter } from 'eventemitter3';
import type { DestinationStream } from 'pino';
import type { CompletionRecord, GatewayEvents } from './events.js';

/** pino's numeric levels: the access line is an info (30) line. */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const q = JSON.stringify;

/**
 * One info line per proxied request, written from `request:complete` like any exporter, in
 * pino's line format (`level`, `time`, …, `msg`). The line is built here rather than by pino:
 * its fields are fixed and come from the record, and pino's generic serialisation cost ~5 µs
 * a request in the benchmark. The key appears only as its alias, the first characters of its
 * hash, or its kind.
 *
 * @example
 * attachAccessLog(gateway.events, destination, 'info');
 */
export function attachAccessLog(events: EventEmitter<GatewayEvents>, destination: DestinationStream, level: string): void {
  if ((LEVELS[level] ?? 30) > 30) return;
  events.on('request:complete', (r: CompletionRecord) => destination.write(accessLine(r, Date.now())));
}

/**
 * The access line of a record (newline included).
 *
 * @example
 * accessLine(record, Date.now()); // '{"level":30,"time":…,"log":"access","reqId":…,"msg":"request"}\n'
 */
export function accessLine(r: CompletionRecord, time: number): string {
  const p = r.principal;
  const caller = p?.keyAlias ?? p?.keyHash?.slice(0, 12) ?? p?.kind;
  let line = `{"level":30,"time":${time},"log":"access","reqId":${q(r.id)},"method":${q(r.method)},"path":${q(r.path)},"status":${r.status}`;
  if (r.model !== undefined) line += `,"model":${q(r.model)}`;
  line += `,"stream":${r.stream}`;
  if (caller !== undefined) line += `,"caller":${q(caller)}`;
  if (r.endUser !== undefined) line += `,"endUser":${q(r.endUser)}`;
  line += `,"durationMs":${r.timings.durationMs}`;
  if (r.timings.upstreamMs !== undefined) line += `,"upstreamMs":${r.timings.upstreamMs}`;
  if (r.upstream !== undefined) line += `,"upstream":${q(r.upstream)}`;
  if (r.attempts) line += `,"attempts":${q(r.attempts.map((a) => `${a.upstream}:${a.status ?? a.error}`).join(' '))}`;
  if (r.aborted) line += ',"aborted":true';
  if (r.error) line += `,"error":${q(r.error.type)},"errorCode":${q(r.error.code)}`;
  return `${line},"msg":"request"}\n`;
}
