import type { DependencyContainer } from 'tsyringe';
import type { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import { invalidConfig, problemLines, validateSection } from './config.js';
import type { GatewayConfig } from './config-schema.js';
import { GatewayError } from './errors.js';
import type { GatewayEvents } from './events.js';
import { createMetadataPlugin } from './metadata-plugin.js';
import type { LoadedPlugin, PluginApi, PluginDefinition, PluginHooks } from './plugin.js';
import { assertPluginDefinition, importPlugin } from './plugin-loader.js';
import type { ProviderAdapter } from './provider.js';
import type { ReadinessCheck } from './readiness.js';
import type { Router, RouteHandler } from './router.js';
import type { Closer } from './shutdown.js';

/** A plugin given in code, optionally with its config and a priority override. */
export type PluginInput = PluginDefinition | { plugin: PluginDefinition; config?: Record<string, unknown>; priority?: number };

/** A plugin definition, or a function that imports one on demand. */
export type PluginModule = PluginDefinition | (() => Promise<PluginDefinition>);

/** Where plugins come from besides the config file. */
export interface PluginSources {
  /** Plugins given in code, loaded after the config's `plugins` entries. */
  plugins?: PluginInput[];
  /**
   * Plugin modules by package name, for config entries whose `use` names them: a definition,
   * or a loader that imports it only when a config names it.
   */
  modules?: Record<string, PluginModule>;
}

export interface SetupDeps {
  config: GatewayConfig;
  options: PluginSources;
  adapters: Map<string, ProviderAdapter>;
  log: Logger;
  env: Record<string, string | undefined>;
  events: EventEmitter<GatewayEvents>;
  container: DependencyContainer;
  router: Router;
  readiness: Map<string, ReadinessCheck>;
  closers: Closer[];
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
  options: PluginSources = {},
): Promise<{ name: string; priority: number }[]> {
  const listed = (await collectPlugins(config, options)).map((e) => ({ name: e.def.name, priority: e.priority ?? e.def.priority }));
  return [...listed, { name: 'metadata', priority: 800 }].sort((a, b) => b.priority - a.priority);
}

/**
 * Every plugin entry, imported and with its config validated. Every mistake is collected and
 * thrown together (one alone keeps its own error), so a config is fixed in one pass.
 */
async function collectPlugins(config: GatewayConfig, options: PluginSources): Promise<PluginEntryResolved[]> {
  const errors: GatewayError[] = [];
  const attempt = async (step: () => unknown): Promise<boolean> => {
    try {
      await step();
      return true;
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      errors.push(err);
      return false;
    }
  };
  const entries: (PluginEntryResolved & { at: (string | number)[] })[] = [];
  for (const [i, entry] of config.plugins.entries()) {
    if (!entry.enabled) continue;
    await attempt(async () => {
      const def = await importPlugin(entry.use, config.baseDir ?? process.cwd(), options.modules ?? {});
      entries.push({ def, config: entry.config, priority: entry.priority, at: ['plugins', i, 'config'] });
    });
  }
  for (const input of options.plugins ?? []) {
    const def = 'plugin' in input ? input.plugin : input;
    if (!(await attempt(() => assertPluginDefinition(def, def?.name ?? '(anonymous)')))) continue;
    const given = 'plugin' in input ? input : undefined;
    entries.push({ def, config: structuredClone(given?.config ?? {}), priority: given?.priority, at: ['plugins', def.name, 'config'] });
  }
  const names = new Set<string>(['metadata']);
  for (const e of entries) {
    if (names.has(e.def.name)) errors.push(new GatewayError('TG_ERR_PLUGIN', `plugin "${e.def.name}" is loaded twice (or clashes with a built-in)`));
    names.add(e.def.name);
  }
  for (const e of entries) {
    if (e.def.configSchema) await attempt(() => validateSection(e.def.configSchema!, e.config, e.at, config));
  }
  for (const e of entries) {
    for (const dep of e.def.dependencies ?? []) {
      if (!names.has(dep)) errors.push(new GatewayError('TG_ERR_PLUGIN', `plugin "${e.def.name}" needs plugin "${dep}", which is not loaded`));
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw invalidConfig(errors.flatMap(problemLines));
  return entries;
}

export async function setupPlugins(d: SetupDeps): Promise<LoadedPlugin[]> {
  const entries: PluginEntryResolved[] = [{ def: createMetadataPlugin(d.adapters, d.config.requests), config: {} }, ...(await collectPlugins(d.config, d.options))];
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

/** One path segment, as a mount path: `/openai`, `/anthropic-eu`. */
const MOUNT_PATH = /^\/[A-Za-z0-9][A-Za-z0-9._~-]*$/;

function addProvider(adapters: Map<string, ProviderAdapter>, adapter: ProviderAdapter, plugin: string): void {
  const fail = (why: string) => new GatewayError('TG_ERR_PLUGIN', `plugin "${plugin}" cannot add provider "${adapter.name}": ${why}`);
  if (adapters.has(adapter.name)) throw fail('a provider of that name exists');
  if (!MOUNT_PATH.test(adapter.mountPath)) throw fail(`mountPath must be one path segment like "/openai", got ${JSON.stringify(adapter.mountPath)}`);
  for (const other of adapters.values()) {
    if (other.mountPath === adapter.mountPath) throw fail(`${adapter.mountPath} is provider "${other.name}"'s mount`);
  }
  adapters.set(adapter.name, adapter);
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
    provider: (adapter) => addProvider(d.adapters, adapter, name),
    readiness: (check, fn) => {
      d.readiness.set(check, fn);
    },
    onReady: (fn) => {
      d.readyHooks.push(fn);
    },
    onClose: (fn) => {
      d.closers.push({ plugin: name, close: fn });
    },
  };
}
