import 'reflect-metadata';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { EventEmitter } from 'eventemitter3';
import type { DestinationStream, Logger } from 'pino';
import { Pool } from 'undici';
import { isLoadedConfig, parseConfig } from './config.js';
import type { GatewayConfig } from './config-schema.js';
import type { Context } from './context.js';
import { errorBody, GatewayError } from './errors.js';
import type { GatewayEvents } from './events.js';
import { attachAccessLog } from './access-log.js';
import { ByteBudget } from './body.js';
import { InFlight } from './in-flight.js';
import { LineWriter } from './line-writer.js';
import { createLogger } from './logger.js';
import { Pipeline } from './pipeline.js';
import { setupPlugins, type PluginSources } from './plugin-setup.js';
import type { ProviderAdapter } from './provider.js';
import { createAnthropicAdapter } from './providers/anthropic.js';
import { proxyRequest, type ProxyDeps } from './proxy.js';
import { Router } from './router.js';
import { runRoute } from './routes.js';
import { CONFIG, ENV, EVENTS, LOGGER, PLUGINS, PROVIDERS } from './tokens.js';

export interface GatewayOptions extends PluginSources {
  /** A config from `loadConfig`/`parseConfig`, or a plain object validated here. Default: `{}`. */
  config?: GatewayConfig | Record<string, unknown>;
  /** Environment for defaults (PORT, ANTHROPIC_API_KEY, TOLLGATE_MASTER_KEY, …). Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Where log lines go. Default: stdout. */
  logDestination?: DestinationStream;
}

export interface Gateway {
  readonly config: GatewayConfig;
  readonly container: DependencyContainer;
  readonly events: EventEmitter<GatewayEvents>;
  readonly log: Logger;
  /** Loaded plugin names, highest priority first. */
  readonly plugins: readonly { name: string; priority: number }[];
  /** The node:http request listener, for embedding in another server. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Base URL once listening, e.g. `http://127.0.0.1:4000`. */
  readonly url: string;
  listen(options?: { port?: number; host?: string }): Promise<{ host: string; port: number; url: string }>;
  /** Stops accepting, lets in-flight requests finish within the grace period, then closes plugins. */
  close(options?: { graceMs?: number }): Promise<void>;
}

/**
 * Builds a gateway: validates config, loads and sets up plugins in their own DI container,
 * and returns a server that is not yet listening.
 *
 * @example
 * const gw = await createGateway({ config: { providers: { anthropic: { apiKey: 'sk-ant-…' } } } });
 * const { url } = await gw.listen({ port: 4000 });
 */
export async function createGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const env = options.env ?? process.env;
  const config = isLoadedConfig(options.config) ? options.config : parseConfig(options.config ?? {}, { env });
  // stdout gets lines in large chunks, not one syscall per access line (pino's own
  // destination cost ~4 µs a line here); a 1 s flush bounds how long a line waits.
  const stdout = options.logDestination ? undefined : new LineWriter(1);
  const flushTimer = stdout && setInterval(() => stdout.flush(), 1000).unref();
  const destination = options.logDestination ?? stdout!;
  const log = createLogger({ level: config.log.level, destination });
  const events = new EventEmitter<GatewayEvents>();
  const container = rootContainer.createChildContainer();
  const adapters = new Map<string, ProviderAdapter>([['anthropic', createAnthropicAdapter(config.providers.anthropic)]]);
  container.register(CONFIG, { useValue: config });
  container.register(LOGGER, { useValue: log });
  container.register(EVENTS, { useValue: events });
  container.register(ENV, { useValue: env });
  // Plugins may add providers while they are set up: every resolve lists them all so far.
  container.register(PROVIDERS, { useFactory: () => [...adapters.values()] });

  const router = new Router();
  const readiness = new Map<string, () => Promise<boolean> | boolean>();
  const closers: (() => void | Promise<void>)[] = [];
  const readyHooks: (() => void | Promise<void>)[] = [];
  // Before the plugins: a plugin route or provider mount cannot take these paths.
  router.add('GET', '/health/liveliness', () => ({ body: { status: 'ok' } }));
  router.add('GET', '/health/readiness', () => checkReadiness(readiness, log));
  let loaded;
  try {
    loaded = await setupPlugins({ config, options, adapters, log, env, events, container, router, readiness, closers, readyHooks });
    for (const a of adapters.values()) {
      const hidden = router.pathUnder(a.mountPath);
      if (hidden) throw new GatewayError('TG_ERR_PLUGIN', `provider "${a.name}" is mounted at ${a.mountPath}, which would hide the route ${hidden}`);
    }
    for (const ready of readyHooks) {
      await Promise.resolve()
        .then(ready)
        .catch((err: unknown) => {
          if (err instanceof GatewayError) throw err;
          throw new GatewayError('TG_ERR_PLUGIN', `a plugin's onReady check failed: ${(err as Error).message}`, { cause: err });
        });
    }
  } catch (err) {
    // A failed boot closes what was already opened (database pools, worker threads).
    for (const close of [...closers].reverse()) {
      await Promise.resolve()
        .then(close)
        .catch((closeErr: unknown) => log.error({ err: closeErr }, 'a plugin failed to close after a failed boot'));
    }
    throw err;
  }
  container.register(PLUGINS, { useValue: loaded });
  const pipeline = container.resolve(Pipeline);
  if (config.log.accessLog) attachAccessLog(events, destination, config.log.level);

  const pools = new Map([...adapters].map(([name, a]) => [name, new Pool(a.origin, { connections: a.connections, pipelining: 1 })]));
  const inFlight = new InFlight();
  let closing: Promise<void> | undefined;
  const deps: ProxyDeps = { config, log, events, pipeline, pools, inFlight, bodyBudget: new ByteBudget(config.server.bodyReadLimit), isClosing: () => closing !== undefined };
  const mounts = [...adapters.values()].map((a) => ({ prefix: `${a.mountPath}/`, adapter: a }));

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    for (const m of mounts) {
      if (url.startsWith(m.prefix)) {
        void proxyRequest(deps, m.adapter, req, res, url.slice(m.prefix.length - 1));
        return;
      }
    }
    void runRoute(router, req, res, log);
  };

  const server: Server = createServer({ keepAliveTimeout: config.server.keepAliveTimeoutMs }, handler);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') socket.end(clientErrorResponse(err.code));
    log.debug({ err }, 'bad client request');
  });
  let url = '';

  return {
    config,
    container,
    events,
    log,
    plugins: [...loaded].sort((a, b) => b.priority - a.priority).map((p) => ({ name: p.name, priority: p.priority })),
    handler,
    get url() {
      return url;
    },
    listen({ port = config.server.port, host = config.server.host } = {}) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const shown = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
          url = `http://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${addr.port}`;
          events.emit('gateway:listening', { host: addr.address, port: addr.port });
          // Boot lines (warnings included) go out before anyone is told the gateway is up.
          log.flush(() => resolve({ host: addr.address, port: addr.port, url }));
        });
      });
    },
    close({ graceMs = config.server.shutdownGraceMs } = {}) {
      closing ??= shutdown({ server, inFlight, graceMs, closers, pools, log, events }).finally(() => clearInterval(flushTimer));
      return closing;
    },
  };
}

async function checkReadiness(checks: Map<string, () => Promise<boolean> | boolean>, log: Logger) {
  const results: Record<string, string> = {};
  let ready = true;
  for (const [name, check] of checks) {
    let ok = false;
    try {
      ok = await check();
    } catch (err) {
      log.warn({ err, check: name }, 'readiness check failed');
    }
    results[name] = ok ? 'ok' : 'unavailable';
    ready &&= ok;
  }
  return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'unavailable', checks: results } };
}

async function shutdown(s: {
  server: Server;
  inFlight: InFlight;
  graceMs: number;
  closers: (() => void | Promise<void>)[];
  pools: Map<string, Pool>;
  log: Logger;
  events: EventEmitter<GatewayEvents>;
}): Promise<void> {
  s.events.emit('gateway:closing');
  const closed = new Promise<void>((resolve) => s.server.close(() => resolve()));
  s.server.closeIdleConnections();
  const deadline = Date.now() + s.graceMs;
  while (s.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (s.inFlight.size > 0) {
    s.log.warn({ inFlight: s.inFlight.size }, 'grace period over: cutting in-flight requests');
    for (const ctx of s.inFlight.list()) ctx.abort();
    const cutoff = Date.now() + 2000;
    while (s.inFlight.size > 0 && Date.now() < cutoff) await new Promise((r) => setTimeout(r, 10));
  }
  s.server.closeAllConnections();
  await closed;
  for (const close of [...s.closers].reverse()) {
    try {
      await close();
    } catch (err) {
      s.log.error({ err }, 'a plugin failed to close');
    }
  }
  await Promise.all([...s.pools.values()].map((p) => p.close()));
  await new Promise<void>((resolve) => s.log.flush(() => resolve()));
}

/**
 * What node:http's parser refused, answered in the same Anthropic error shape as every other
 * gateway error (the SDKs read it), then the connection closes.
 */
function clientErrorResponse(code: string | undefined): string {
  const [status, reason, message] =
    code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request did not arrive in time']
        : [400, 'Bad Request', 'malformed HTTP request'];
  const body = errorBody(new GatewayError('TG_ERR_BAD_REQUEST', message, { status }));
  return `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
