import 'reflect-metadata';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { EventEmitter } from 'eventemitter3';
import type { DestinationStream, Logger } from 'pino';
import { isLoadedConfig, parseConfig } from './config.js';
import type { AnthropicProviderConfig, GatewayConfig } from './config-schema.js';
import { addPools, upstreamsReport } from './upstream-pools.js';
import { UPSTREAM_STATS } from './upstream-stats.js';
import { UPSTREAM_TARGETS, upstreamTargets } from './upstream-targets.js';
import { CooldownShare } from './upstream-share.js';
import { UpstreamCaller } from './failover.js';
import { upstreamList } from './upstream-config.js';
import type { UpstreamPool } from './upstream-pool.js';
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
import { checkReadiness, type ReadinessCheck } from './readiness.js';
import { Router } from './router.js';
import { runRoute } from './routes.js';
import { runClosers, shutdown, type Closer } from './shutdown.js';
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
  /**
   * Replaces the Anthropic upstream pool without a restart (the CLI calls it on SIGHUP with the
   * re-read config): upstreams kept by name keep their connections and health. Throws
   * TG_ERR_CONFIG for an invalid list, leaving the pool as it was.
   */
  reloadUpstreams(providerConfig: AnthropicProviderConfig): void;
  /**
   * Shuts down within `graceMs` (default `server.shutdownGraceMs`): stops accepting, lets
   * in-flight requests finish until `closeReserveMs(graceMs)` before the end, cuts the rest,
   * then closes the plugins with the end as their deadline, and the upstream pools.
   */
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
  const anthropic = config.providers.anthropic;
  const upstreams = upstreamList(anthropic);
  // The adapter's default key is the first upstream's (UPSTREAM_TARGETS gives each upstream its own).
  const adapterConfig = { ...anthropic, baseUrl: upstreams[0]!.baseUrl, apiKey: upstreams[0]!.apiKey };
  const adapters = new Map<string, ProviderAdapter>([['anthropic', createAnthropicAdapter(adapterConfig, config.clients)]]);
  container.register(CONFIG, { useValue: config });
  container.register(LOGGER, { useValue: log });
  container.register(EVENTS, { useValue: events });
  container.register(ENV, { useValue: env });
  // Plugins may add providers while they are set up: every resolve lists them all so far.
  container.register(PROVIDERS, { useFactory: () => [...adapters.values()] });

  const router = new Router();
  const readiness = new Map<string, ReadinessCheck>();
  const closers: Closer[] = [];
  const readyHooks: (() => void | Promise<void>)[] = [];
  // Before the plugins: a plugin route or provider mount cannot take these paths.
  router.add('GET', '/health/liveliness', () => ({ body: { status: 'ok' } }));
  router.add('GET', '/health/readiness', () => checkReadiness(readiness, log));
  // Filled once the plugins have added their providers.
  const pools = new Map<string, UpstreamPool>();
  router.add('GET', '/health/upstreams', (req) => upstreamsReport(container, req, pools));
  container.register(UPSTREAM_STATS, { useValue: { snapshot: () => [...pools].map(([provider, p]) => ({ provider, upstreams: p.snapshot(Date.now()) })) } });
  container.register(UPSTREAM_TARGETS, { useValue: upstreamTargets(pools, adapters) });
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
    await runClosers(closers, Date.now() + config.server.shutdownGraceMs, log);
    throw err;
  }
  container.register(PLUGINS, { useValue: loaded });
  const pipeline = container.resolve(Pipeline);
  if (config.log.accessLog) attachAccessLog(events, destination, config.log.level);

  let share: CooldownShare | undefined;
  addPools(pools, adapters, anthropic, upstreams, (provider, c) => share?.publish(provider, c));
  const redisUrl = anthropic.failover.redisUrl ?? (env.TOLLGATE_REDIS_URL || undefined);
  if (redisUrl) {
    share = await CooldownShare.start({ url: redisUrl, prefix: anthropic.failover.redisKeyPrefix, pools, log });
    closers.push({ plugin: 'core', close: () => share!.close() });
  }
  const inFlight = new InFlight();
  let closing: Promise<void> | undefined;
  const callers = new Map([...pools].map(([name, pool]) => [name, new UpstreamCaller(pool, adapters.get(name)!, pipeline)]));
  const deps: ProxyDeps = { config, log, events, pipeline, callers, inFlight, bodyBudget: new ByteBudget(config.server.bodyReadLimit), isClosing: () => closing !== undefined };
  const mounts = providerMounts(adapters, config);

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    for (const m of mounts) {
      if (url.startsWith(m.prefix)) {
        const rest = m.keep ? url : url.slice(m.prefix.length - 1);
        if (!answerLocally(m.adapter, req, res, rest)) proxyRequest(deps, m.adapter, req, res, rest).catch((err: unknown) => lastResort(err, res, log));
        return;
      }
    }
    runRoute(router, req, res, log).catch((err: unknown) => lastResort(err, res, log));
  };

  const server: Server = createServer({ keepAliveTimeout: config.server.keepAliveTimeoutMs }, handler);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') socket.end(clientErrorResponse(err.code));
    // Only the code and reason: the error also carries the raw request bytes (credentials).
    log.debug({ code: err.code, reason: err.message }, 'bad client request');
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
    reloadUpstreams(next) {
      const list = upstreamList(next);
      pools.get('anthropic')!.reload(list);
      // The key of the first upstream is the adapter's default (and its own requests'), as at boot.
      if (list[0]!.baseUrl === adapterConfig.baseUrl) adapterConfig.apiKey = list[0]!.apiKey;
      log.info({ upstreams: list.map((u) => u.name) }, 'upstreams reloaded');
    },
    close({ graceMs = config.server.shutdownGraceMs } = {}) {
      closing ??= shutdown({ server, inFlight, graceMs, closers, pools, log, events }).finally(() => clearInterval(flushTimer));
      return closing;
    },
  };
}

/**
 * Both request paths send their own errors; this catches what escaped them (a bug: sending
 * the error itself failed), so one request can never take the process down. The client gets
 * a plain 500 if nothing was sent yet, a cut connection otherwise.
 */
function lastResort(err: unknown, res: ServerResponse, log: Logger): void {
  log.error({ err }, 'request failed outside the gateway\'s error handling');
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(new GatewayError('TG_ERR_INTERNAL', 'internal gateway error'));
  try {
    res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } catch (writeErr) {
    log.error({ err: writeErr }, 'could not send the last-resort 500; cutting the connection');
    res.destroy();
  }
}

/**
 * What node:http's parser refused, answered in the same Anthropic error shape as every other
 * gateway error (the SDKs read it), then the connection closes.
 */
interface Mount {
  prefix: string;
  adapter: ProviderAdapter;
  /** The prefix is part of the provider's path (the Anthropic API at the root: /v1/…). */
  keep: boolean;
}

/** Each provider at its mount path; the Anthropic API also at the root when configured. */
function providerMounts(adapters: ReadonlyMap<string, ProviderAdapter>, config: GatewayConfig): Mount[] {
  const mounts: Mount[] = [...adapters.values()].map((a) => ({ prefix: `${a.mountPath}/`, adapter: a, keep: false }));
  const anthropic = adapters.get('anthropic');
  if (config.providers.anthropic.mountAtRoot && anthropic) {
    mounts.push({ prefix: '/v1/', adapter: anthropic, keep: true }, { prefix: '/api/hello', adapter: anthropic, keep: true });
  }
  return mounts;
}

/** Answers a provider's local route (a connectivity probe) at once; false for anything else. */
function answerLocally(adapter: ProviderAdapter, req: IncomingMessage, res: ServerResponse, rest: string): boolean {
  const q = rest.indexOf('?');
  const reply = adapter.localReply?.(req.method ?? 'GET', q === -1 ? rest : rest.slice(0, q));
  if (!reply) return false;
  res.writeHead(reply.status, { 'content-length': 0 }).end();
  return true;
}

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
