// Lean mock of the Anthropic API for load tests: records nothing, parses nothing beyond a
// substring check for `"stream":true`, answers POST /v1/messages with a fixed Message or a
// fixed SSE stream. Runs as a child process with an IPC channel:
//   parent -> { type: 'config', eventDelayMs, deltas }   (ack: { type: 'configured' })
//   parent -> { type: 'stats' }                           (reply: { type: 'stats', activeStreams, openSockets })
//   parent -> { type: 'gc' }                              (ack: { type: 'gc:done' }; needs --expose-gc)
//   child  -> { type: 'ready', port }
// Exits when the parent goes away or after --max-ms.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { MESSAGE_JSON, UPSTREAM_HEADERS, streamEvents } from './fixtures.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'event-delay-ms': { type: 'string', default: '0' },
    deltas: { type: 'string', default: '10' },
    'max-ms': { type: 'string', default: '1800000' },
  },
});

let eventDelayMs = Number(opts['event-delay-ms']);
let events = streamEvents(Number(opts.deltas));

const messageBody = Buffer.from(MESSAGE_JSON);
const jsonHeaders = { 'content-type': 'application/json', 'content-length': String(messageBody.length), ...UPSTREAM_HEADERS };
const sseHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...UPSTREAM_HEADERS };
const notFound = JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'Not found' } });
const STREAM_FLAG = /"stream"\s*:\s*true/;

let activeStreams = 0;
let openSockets = 0;

function sendStream(res) {
  activeStreams++;
  res.once('close', () => activeStreams--);
  res.writeHead(200, sseHeaders);
  const evs = events;
  if (eventDelayMs <= 0) {
    for (let i = 0; i < evs.length - 1; i++) res.write(evs[i]);
    res.end(evs[evs.length - 1]);
    return;
  }
  const delay = eventDelayMs;
  let i = 0;
  let timer;
  const next = () => {
    if (res.destroyed) return;
    if (i === evs.length - 1) return void res.end(evs[i]);
    res.write(evs[i++]);
    timer = setTimeout(next, delay);
  };
  res.once('close', () => clearTimeout(timer));
  next();
}

const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
  if (req.method === 'POST' && (req.url === '/v1/messages' || req.url.startsWith('/v1/messages?'))) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0].toString('latin1') : Buffer.concat(chunks).toString('latin1');
      if (STREAM_FLAG.test(body)) sendStream(res);
      else {
        res.writeHead(200, jsonHeaders);
        res.end(messageBody);
      }
    });
    return;
  }
  req.resume();
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    return void res.end('ok');
  }
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(notFound)) });
  res.end(notFound);
});

server.on('connection', (socket) => {
  openSockets++;
  socket.once('close', () => openSockets--);
});

server.listen({ port: Number(opts.port), host: opts.host, backlog: 4096 }, () => {
  const { port } = server.address();
  if (process.send) process.send({ type: 'ready', port });
  else console.error(`mock upstream listening on http://${opts.host}:${port}`);
});

process.on('message', (m) => {
  if (m?.type === 'stats') process.send({ type: 'stats', activeStreams, openSockets });
  if (m?.type === 'gc') {
    globalThis.gc?.();
    process.send({ type: 'gc:done' });
  }
  if (m?.type === 'config') {
    if (m.eventDelayMs !== undefined) eventDelayMs = m.eventDelayMs;
    if (m.deltas !== undefined) events = streamEvents(m.deltas);
    process.send({ type: 'configured', eventDelayMs, deltas: events.length - 6 });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), Number(opts['max-ms'])).unref();
