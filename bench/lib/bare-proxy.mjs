// The thinnest reasonable pass-through: node:http server + one undici Pool, request body
// streamed through, response streamed back with pool.stream(). The only change is the
// credential swap (client x-api-key/authorization out, upstream x-api-key in) and dropping
// host/connection, which undici sets itself. No parsing, no logging, no plugins.
//
//   node bare-proxy.mjs --port 0 --upstream http://127.0.0.1:PORT [--connections N]
// Prints `bare proxy listening on http://HOST:PORT` on stderr; with an IPC channel also
// sends { type: 'ready', port }. Exits when the parent goes away or after --max-ms.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string', default: process.env.ANTHROPIC_BASE_URL ?? 'http://127.0.0.1:8080' },
    'api-key': { type: 'string', default: process.env.ANTHROPIC_API_KEY ?? 'sk-ant-bench' },
    // undici's default (unlimited) unless given; the gateway's own default is 256.
    connections: { type: 'string' },
    'max-ms': { type: 'string', default: '1800000' },
  },
});

const apiKey = opts['api-key'];
const pool = new Pool(opts.upstream, { connections: opts.connections ? Number(opts.connections) : null, pipelining: 1 });
const DROP = new Set(['x-api-key', 'authorization', 'host', 'connection']);

const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
  const headers = {};
  for (const name in req.headers) if (!DROP.has(name)) headers[name] = req.headers[name];
  headers['x-api-key'] = apiKey;
  pool.stream(
    { method: req.method, path: req.url, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
    ({ statusCode, headers: upstreamHeaders }) => {
      res.writeHead(statusCode, upstreamHeaders);
      return res;
    },
    (err) => {
      if (!err) return;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: err.message } }));
      } else res.destroy();
    },
  );
});

server.listen({ port: Number(opts.port), host: opts.host, backlog: 4096 }, () => {
  const { port } = server.address();
  console.error(`bare proxy listening on http://${opts.host}:${port}`);
  if (process.send) process.send({ type: 'ready', port });
});

if (process.send) process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), Number(opts['max-ms'])).unref();
