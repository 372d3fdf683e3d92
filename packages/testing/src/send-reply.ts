import { setTimeout as delay } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { randomId } from './anthropic-fixtures.js';
import type { Exchange } from './recorded-request.js';
import type { Reply, ReplyHeaders, WriteInfo } from './reply.js';
import { GzipEncoder, ResponseWriter } from './response-writer.js';
import { serializeSseEvent, type SseEventSpec } from './sse.js';

interface StreamOptions {
  eventDelayMs?: number;
  gzip?: boolean;
  hangUp?: boolean;
  onWrite?: (info: WriteInfo) => void;
  waitForDrain?: boolean;
}

/**
 * Sends `reply` on the exchange. Built-in reply kinds get `request-id: req_…` and
 * `anthropic-organization-id: org_mock` plus a content-type; `reply.headers` override them.
 */
export async function sendReply(x: Exchange, reply: Reply): Promise<void> {
  if ('handler' in reply) return reply.handler(x.req, x.res, x.recorded);
  if ('hang' in reply) return;
  if ('delayMs' in reply && reply.delayMs) await pause(reply.delayMs, x.signal);
  if (x.signal.aborted) return;
  if ('hangUp' in reply) return x.hangUp();
  if ('sse' in reply) {
    const headers = replyHeaders('text/event-stream', { 'cache-control': 'no-cache' }, reply.headers, reply.gzip);
    const events = reply.hangUpAfterEvents === undefined ? reply.sse : reply.sse.slice(0, reply.hangUpAfterEvents);
    const pieces = ssePieces(events, reply.split ?? 'event');
    return sendStream(x, reply.status ?? 200, headers, pieces, { ...reply, hangUp: reply.hangUpAfterEvents !== undefined });
  }
  if ('chunks' in reply) {
    const headers = replyHeaders('text/event-stream', {}, reply.headers);
    return sendStream(x, reply.status ?? 200, headers, reply.chunks.map(toBuffer), reply);
  }
  if ('json' in reply) {
    const json = Buffer.from(JSON.stringify(reply.json) ?? '');
    const body = reply.gzip ? gzipSync(json) : json;
    return sendBody(x, reply.status ?? 200, replyHeaders('application/json', {}, reply.headers, reply.gzip), body);
  }
  if ('body' in reply) {
    const type = typeof reply.body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
    return sendBody(x, reply.status ?? 200, replyHeaders(type, {}, reply.headers), toBuffer(reply.body));
  }
  throw new Error(`unknown reply kind: ${Object.keys(reply).join(', ')}`);
}

/** Cuts serialized events into writes: one per event, all in one, or fixed-size byte slices (may split UTF-8 sequences). */
export function ssePieces(events: readonly SseEventSpec[], split: 'event' | 'one-chunk' | number): Buffer[] {
  const serialized = events.map((e) => Buffer.from(serializeSseEvent(e)));
  if (split === 'event') return serialized;
  const all = Buffer.concat(serialized);
  if (split === 'one-chunk') return all.length > 0 ? [all] : [];
  if (!Number.isInteger(split) || split < 1) throw new Error(`split must be a positive integer, got ${split}`);
  const pieces: Buffer[] = [];
  for (let at = 0; at < all.length; at += split) pieces.push(all.subarray(at, at + split));
  return pieces;
}

function sendBody(x: Exchange, status: number, headers: ReplyHeaders, body: Buffer): void {
  x.res.writeHead(status, { 'content-length': String(body.length), ...headers });
  x.res.end(body);
}

async function sendStream(x: Exchange, status: number, headers: ReplyHeaders, pieces: Buffer[], opts: StreamOptions) {
  x.res.writeHead(status, headers);
  x.res.flushHeaders();
  const writer = new ResponseWriter(x.res, { onWrite: opts.onWrite, waitForDrain: opts.waitForDrain ?? true });
  const gzip = opts.gzip ? new GzipEncoder() : undefined;
  try {
    for (const [i, piece] of pieces.entries()) {
      if (i > 0 && opts.eventDelayMs) await pause(opts.eventDelayMs, x.signal);
      if (x.signal.aborted) return;
      if (!(await writer.write(gzip ? await gzip.encode(piece) : piece))) return;
    }
    if (opts.hangUp) {
      await writer.flushed();
      return x.hangUp();
    }
    if (gzip && !(await writer.write(await gzip.end()))) return;
    x.res.end();
  } finally {
    gzip?.destroy();
  }
}

function replyHeaders(contentType: string, extra: ReplyHeaders, custom: ReplyHeaders = {}, gzip = false): ReplyHeaders {
  const headers: ReplyHeaders = {
    'request-id': randomId('req_'),
    'anthropic-organization-id': 'org_mock',
    'content-type': contentType,
    ...extra,
  };
  if (gzip) headers['content-encoding'] = 'gzip';
  for (const [name, value] of Object.entries(custom)) headers[name.toLowerCase()] = value;
  return headers;
}

/** Waits `ms` unless the signal fires first (never rejects). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

function toBuffer(chunk: string | Buffer): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
}
