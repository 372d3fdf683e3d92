import type { DependencyContainer, InjectionToken } from 'tsyringe';
import type { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { GatewayEvents } from './events.js';
import type { RequestContext, UpstreamRequest, UpstreamResponseHead, SseEvent } from './context.js';
import type { GatewayConfig } from './config-schema.js';
import type { ProviderAdapter } from './provider.js';
import type { ReadinessCheck } from './readiness.js';
import type { RouteHandler } from './router.js';

/** A short-circuit answer from `onRequest`: the upstream is not called. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Serialized as JSON. */
  body?: unknown;
}

/** How a request ended, passed to `onComplete` exactly once. */
export interface Outcome {
  status: number;
  aborted: boolean;
  error?: { code: string; type: string; message: string };
}

/**
 * The hooks a plugin may return from `setup`. Request-side hooks run from high priority to
 * low, response-side hooks from low to high. Each returns a value or a promise; none takes a
 * callback. To stop a request, throw a `GatewayError` or return a `Reply` from `onRequest`.
 */
export interface PluginHooks {
  /**
   * Request side, before the body is read: `ctx.request.body` is still empty. Authenticate
   * here (from headers), so that a request refused never has its body read. Same contract as
   * `onRequest`: throw a `GatewayError` or return a `Reply` to stop.
   */
  onRequestHeaders?(ctx: RequestContext): void | Reply | Promise<void | Reply>;
  /** Request side, body read: read metadata, enforce policy. */
  onRequest?(ctx: RequestContext): void | Reply | Promise<void | Reply>;
  /** The last edit before the upstream call (headers, credential, body). */
  beforeUpstream?(ctx: RequestContext, upstream: UpstreamRequest): void | Promise<void>;
  /** Upstream status and headers arrived; the client has not seen them yet. */
  onResponseHeaders?(ctx: RequestContext, head: UpstreamResponseHead): void | Promise<void>;
  /**
   * A whole non-streaming message body (usage already in `ctx.usage`), before the client gets
   * the headers: a plugin may add response headers (`head.headers`). Defining this hook makes
   * the gateway hold such bodies back (they are small JSON documents); streams never wait.
   */
  onResponseBody?(ctx: RequestContext, head: UpstreamResponseHead, body: unknown): void | Promise<void>;
  /**
   * One parsed SSE event, or one line of a JSON-lines body such as batch results
   * (`{ event: 'line', data }`). Synchronous: the bytes have already gone to the client.
   */
  onChunk?(ctx: RequestContext, event: SseEvent): void;
  /** Exactly once per request: success, upstream error, gateway error, abort or short-circuit. */
  onComplete?(ctx: RequestContext, outcome: Outcome): void | Promise<void>;
}

/** What `setup` receives: the plugin's validated config and the gateway's services. */
export interface PluginApi<C = Record<string, unknown>> {
  /** This plugin's config, validated against its schema with defaults applied. */
  readonly config: C;
  /** The gateway's whole config (read-only). */
  readonly gatewayConfig: Readonly<GatewayConfig>;
  /** A child logger with `plugin: <name>`. */
  readonly log: Logger;
  /** The environment the gateway was started with. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly events: EventEmitter<GatewayEvents>;
  /** This gateway's DI container (one per gateway instance). */
  readonly container: DependencyContainer;
  /** Registers a value under a token for other plugins. */
  provide<T>(token: InjectionToken<T>, value: T): void;
  /** Resolves a token some plugin (or core) provided. */
  resolve<T>(token: InjectionToken<T>): T;
  /** True when a token has been provided. */
  has(token: InjectionToken<unknown>): boolean;
  /** Adds an HTTP route outside the provider mounts, e.g. an admin API. */
  route(method: string, path: string, handler: RouteHandler): void;
  /**
   * Adds a provider: requests under `adapter.mountPath` go to its upstream through the same
   * pipeline as `/anthropic/…` (auth, metadata, plugins, exactly-once completion). Provider
   * names and mount paths are unique, and a mount may not cover a route.
   */
  provider(adapter: ProviderAdapter): void;
  /**
   * Adds a readiness check reported by /health/readiness: true/false, or `{ ok, reason }` to
   * say why it is not ready; `'degraded'` is reported but keeps the gateway ready, for a
   * dependency it works without (Redis for shared limits). Each check gets 500 ms
   * (READINESS_CHECK_MS), then counts as not ready.
   */
  readiness(name: string, check: ReadinessCheck): void;
  /**
   * Runs once every plugin is set up, before the gateway listens: the place for checks that
   * involve other plugins (`api.has(TOKEN)`). Throwing fails the boot.
   */
  onReady(fn: () => void | Promise<void>): void;
  /**
   * Runs at shutdown, after in-flight requests finished (or were cut), in reverse order of
   * registration, one after another. The callback gets the shutdown's deadline: resolve by
   * it, since the gateway waits for each callback and the process exits only after the last
   * (Kubernetes kills it at the end of its grace). Stop waiting on the network once
   * `signal` aborts; local work (a file append) may finish.
   */
  onClose(fn: (c: CloseContext) => void | Promise<void>): void;
}

/**
 * What an `onClose` callback gets: when the whole shutdown must be over.
 *
 * @example
 * api.onClose(async ({ signal }) => {
 *   await queue.close({ signal }); // try the database until the deadline, then spool to disk
 * });
 */
export interface CloseContext {
  /**
   * Epoch ms by which the shutdown must be over: the end of `server.shutdownGraceMs` (the
   * `graceMs` given to `gateway.close`). Already past when in-flight requests took all of it.
   */
  deadline: number;
  /** Aborts at `deadline`. */
  signal: AbortSignal;
}

/** A plugin as its author writes it. */
export interface PluginDefinition<C = any> {
  /** Unique; also the log field `plugin`. */
  name: string;
  /** Bands: 1000 edge, 900 auth, 800 metadata, 700 policy, 100-500 accounting/exporters. */
  priority: number;
  /** JSON Schema of the plugin's config; ajv validates it and applies defaults. */
  configSchema?: object;
  /** Names of plugins that must be loaded too. */
  dependencies?: string[];
  setup(api: PluginApi<C>): PluginHooks | void | Promise<PluginHooks | void>;
}

/** A plugin after setup, as the pipeline holds it. */
export interface LoadedPlugin {
  name: string;
  priority: number;
  hooks: PluginHooks;
}

/**
 * Declares a plugin. An identity function that gives the definition its types.
 *
 * @example
 * export default definePlugin({
 *   name: 'hello',
 *   priority: 500,
 *   setup(api) {
 *     return { onComplete(ctx, outcome) { api.log.info({ reqId: ctx.id, status: outcome.status }, 'done'); } };
 *   },
 * });
 */
export function definePlugin<C = Record<string, unknown>>(definition: PluginDefinition<C>): PluginDefinition<C> {
  return definition;
}
