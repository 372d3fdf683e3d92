import 'reflect-metadata';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { EventEmitter } from 'eventemitter3';
import { pino, type DestinationStream, type Logger } from 'pino';
import { Pool } from 'undici';
import { isLoadedConfig, parseConfig, validateSection } from './config.js';
import type { GatewayConfig } from './config-schema.js';
import type { Context } from './context.js';
import { GatewayError } from './errors.js';
import type { GatewayEvents } from './events.js';
import { attachAccessLog } from './access-log.js';
import { createLogger } from './logger.js';
import { createMetadataPlugin } from './metadata-plugin.js';
import { Pipeline } from './pipeline.js';
import type { LoadedPlugin, PluginApi, PluginDefinition, PluginHooks } from './plugin.js';
import { assertPluginDefinition, importPlugin } from './plugin-loader.js';
import type { ProviderAdapter } from './provider.js';
import { createAnthropicAdapter } from './providers/anthropic.js';
import { proxyRequest, type ProxyDeps } from './proxy.js';
import { Router, type RouteHandler } from './router.js';
import { runRoute } from './routes.js';
import { CONFIG, ENV, EVENTS, LOGGER, PLUGINS, PROVIDERS } from './tokens.js';

/** A plugin given in code, optionally with its config and a priority override. */
export type PluginInput = PluginDefinition | { plugin: PluginDefinition; config?: Record<string, unknown>; priority?: number };

export interface GatewayOptions {
  /** A config from `loadConfig`/`parseConfig`, or a plain object validated here. Default: `{}`. */
  config?: GatewayConfig | Record<string, unknown>;
  /** Plugins given in code, loaded after the config's `plugins` entries. */
  plugins?: PluginInput[];
  /** Plugin modules by package name, for config entries whose `use` names them. */
  modules?: Record<string, PluginDefinition>;
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
  const destination = options.logDestination ?? pino.destination({ dest: 1, sync: false });
  const log = createLogger({ level: config.log.level, destination });
  const events = new EventEmitter<GatewayEvents>();
  const container = rootContainer.createChildContainer();
  const adapters = new Map<string, ProviderAdapter>([['anthropic', createAnthropicAdapter(config.providers.anthropic)]]);
  container.register(CONFIG, { useValue: config });
  container.register(LOGGER, { useValue: log });
  container.register(EVENTS, { useValue: events });
  container.register(ENV, { useValue: env });
  container.register(PROVIDERS, { useValue: [...adapters.values()] });

  const router = new Router();
  const readiness = new Map<string, () => Promise<boolean> | boolean>();
  const closers: (() => void | Promise<void>)[] = [];
  const readyHooks: (() => void | Promise<void>)[] = [];
  const loaded = await setupPlugins({ config, options, adapters, log, env, events, container, router, readiness, closers, readyHooks });
  try {
    for (const ready of readyHooks) await ready();
  } catch (err) {
    for (const close of [...closers].reverse()) {
      await Promise.resolve()
        .then(close)
        .catch((closeErr: unknown) => log.error({ err: closeErr }, 'a plugin failed to close after a failed boot'));
    }
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('TG_ERR_PLUGIN', `a plugin's onReady check failed: ${(err as Error).message}`, { cause: err });
  }
  container.register(PLUGINS, { useValue: loaded });
  const pipeline = container.resolve(Pipeline);
  // The access line holds only fields built here from non-secret values: no redaction pass.
  if (config.log.accessLog) attachAccessLog(events, createLogger({ level: config.log.level, destination, redact: false }));

  router.add('GET', '/health/liveliness', () => ({ body: { status: 'ok' } }));
  router.add('GET', '/health/readiness', () => checkReadiness(readiness, log));

  const pools = new Map([...adapters].map(([name, a]) => [name, new Pool(a.origin, { connections: a.connections, pipelining: 1 })]));
  const inFlight = new Set<Context>();
  let closing: Promise<void> | undefined;
  const deps: ProxyDeps = { config, log, events, pipeline, pools, inFlight, isClosing: () => closing !== undefined };
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
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
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
          resolve({ host: addr.address, port: addr.port, url });
        });
      });
    },
    close({ graceMs = config.server.shutdownGraceMs } = {}) {
      closing ??= shutdown({ server, inFlight, graceMs, closers, pools, log, events });
      return closing;
    },
  };
}

interface SetupDeps {
  config: GatewayConfig;
  options: GatewayOptions;
  adapters: Map<string, ProviderAdapter>;
  log: Logger;
  env: Record<string, string | undefined>;
  events: EventEmitter<GatewayEvents>;
  container: DependencyContainer;
  router: Router;
  readiness: Map<string, () => Promise<boolean> | boolean>;
  closers: (() => void | Promise<void>)[];
  readyHooks: (() => void | Promise<void>)[];
}

interface PluginEntryResolved {
  def: PluginDefinition;
  config: Record<string, unknown>;
  priority?: number;
}

/**
 * Imports every plugin the config and the options name, checks names are unique and
 * dependencies present, and validates each plugin's config (defaults applied). Nothing is set
 * up: this is what `tollgate check-config` runs.
 *
 * @example
 * const plugins = await resolvePlugins(await loadConfig('tollgate.yaml'), { modules });
 */
export async function resolvePlugins(
  config: GatewayConfig,
  options: Pick<GatewayOptions, 'plugins' | 'modules'> = {},
): Promise<{ name: string; priority: number }[]> {
  const listed = (await collectPlugins(config, options)).map((e) => ({ name: e.def.name, priority: e.priority ?? e.def.priority }));
  return [...listed, { name: 'metadata', priority: 800 }].sort((a, b) => b.priority - a.priority);
}

async function collectPlugins(config: GatewayConfig, options: Pick<GatewayOptions, 'plugins' | 'modules'>): Promise<PluginEntryResolved[]> {
  const entries: (PluginEntryResolved & { at: (string | number)[] })[] = [];
  for (const [i, entry] of config.plugins.entries()) {
    if (!entry.enabled) continue;
    const def = await importPlugin(entry.use, config.baseDir ?? process.cwd(), options.modules ?? {});
    entries.push({ def, config: entry.config, priority: entry.priority, at: ['plugins', i, 'config'] });
  }
  for (const input of options.plugins ?? []) {
    const def = 'plugin' in input ? input.plugin : input;
    assertPluginDefinition(def, def?.name ?? '(anonymous)');
    const given = 'plugin' in input ? input : undefined;
    entries.push({ def, config: structuredClone(given?.config ?? {}), priority: given?.priority, at: ['plugins', def.name, 'config'] });
  }
  const names = new Set<string>(['metadata']);
  for (const e of entries) {
    if (names.has(e.def.name)) throw new GatewayError('TG_ERR_PLUGIN', `plugin "${e.def.name}" is loaded twice (or clashes with a built-in)`);
    names.add(e.def.name);
  }
  for (const e of entries) {
    if (e.def.configSchema) validateSection(e.def.configSchema, e.config, e.at, config);
  }
  for (const e of entries) {
    for (const dep of e.def.dependencies ?? []) {
      if (!names.has(dep)) throw new GatewayError('TG_ERR_PLUGIN', `plugin "${e.def.name}" needs plugin "${dep}", which is not loaded`);
    }
  }
  return entries;
}

async function setupPlugins(d: SetupDeps): Promise<LoadedPlugin[]> {
  const entries: PluginEntryResolved[] = [{ def: createMetadataPlugin(d.adapters), config: {} }, ...(await collectPlugins(d.config, d.options))];
  const loaded: LoadedPlugin[] = [];
  for (const e of setupOrder(entries)) {
    const api = pluginApi(d, e.def.name, e.config);
    let hooks: PluginHooks | void;
    try {
      hooks = await e.def.setup(api);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('TG_ERR_PLUGIN', `plugin "${e.def.name}" failed to set up: ${(err as Error).message}`, { cause: err });
    }
    loaded.push({ name: e.def.name, priority: e.priority ?? e.def.priority, hooks: hooks ?? {} });
  }
  return loaded;
}

/** Dependencies first, otherwise high priority first; a cycle is a boot error. */
function setupOrder(entries: PluginEntryResolved[]): PluginEntryResolved[] {
  const sorted = [...entries].sort((a, b) => (b.priority ?? b.def.priority) - (a.priority ?? a.def.priority));
  const byName = new Map(sorted.map((e) => [e.def.name, e]));
  const out: PluginEntryResolved[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (e: PluginEntryResolved): void => {
    const s = state.get(e.def.name);
    if (s === 'done') return;
    if (s === 'visiting') throw new GatewayError('TG_ERR_PLUGIN', `plugin dependencies form a cycle through "${e.def.name}"`);
    state.set(e.def.name, 'visiting');
    for (const dep of e.def.dependencies ?? []) visit(byName.get(dep)!);
    state.set(e.def.name, 'done');
    out.push(e);
  };
  sorted.forEach(visit);
  return out;
}

function pluginApi(d: SetupDeps, name: string, config: Record<string, unknown>): PluginApi {
  return {
    config,
    gatewayConfig: d.config,
    log: d.log.child({ plugin: name }),
    env: d.env,
    events: d.events,
    container: d.container,
    provide: (token, value) => d.container.register(token, { useValue: value }),
    resolve: (token) => d.container.resolve(token),
    has: (token) => d.container.isRegistered(token, true),
    route: (method: string, path: string, h: RouteHandler) => d.router.add(method, path, h),
    readiness: (check, fn) => {
      d.readiness.set(check, fn);
    },
    onReady: (fn) => {
      d.readyHooks.push(fn);
    },
    onClose: (fn) => {
      d.closers.push(fn);
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
  inFlight: Set<Context>;
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
    for (const ctx of s.inFlight) ctx.abort();
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
