import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GatewayError } from './errors.js';
import type { PluginDefinition } from './plugin.js';

/**
 * Imports a plugin module named in YAML: a path (relative to the config file) or a package
 * name, looked up among the `known` modules first, then from the config file's folder, then
 * from core's own. The module's default export (or `plugin` export) is the definition.
 *
 * @example
 * const def = await importPlugin('./plugins/hello.js', '/etc/tollgate', {});
 */
export async function importPlugin(spec: string, baseDir: string, known: Readonly<Record<string, PluginDefinition | (() => Promise<PluginDefinition>)>>): Promise<PluginDefinition> {
  const given = known[spec];
  if (given) {
    const def = typeof given === 'function' ? await given() : given;
    assertPluginDefinition(def, spec);
    return def;
  }
  const isPath = spec.startsWith('.') || isAbsolute(spec) || spec.startsWith('file:');
  let mod: Record<string, unknown>;
  try {
    if (isPath) {
      const url = spec.startsWith('file:') ? spec : pathToFileURL(resolve(baseDir, spec)).href;
      mod = (await import(url)) as Record<string, unknown>;
    } else {
      mod = (await importPackage(spec, baseDir)) as Record<string, unknown>;
    }
  } catch (err) {
    throw new GatewayError('TG_ERR_PLUGIN', `cannot load plugin "${spec}": ${(err as Error).message}`, { cause: err });
  }
  const def = (mod.default ?? mod.plugin) as PluginDefinition | undefined;
  assertPluginDefinition(def, spec);
  return def;
}

async function importPackage(name: string, baseDir: string): Promise<unknown> {
  let resolved: string | undefined;
  try {
    resolved = createRequire(join(baseDir, 'noop.js')).resolve(name);
  } catch {
    // Not installed next to the config: fall back to core's own resolution below.
  }
  return resolved ? import(pathToFileURL(resolved).href) : import(name);
}

/** Fails fast, at boot, on a module that is not a plugin. */
export function assertPluginDefinition(def: unknown, spec: string): asserts def is PluginDefinition {
  const d = def as Partial<PluginDefinition> | undefined;
  if (!d || typeof d !== 'object') throw new GatewayError('TG_ERR_PLUGIN', `plugin "${spec}" has no default export`);
  if (typeof d.name !== 'string' || d.name === '') throw new GatewayError('TG_ERR_PLUGIN', `plugin "${spec}" has no name`);
  if (typeof d.priority !== 'number' || !Number.isFinite(d.priority)) throw new GatewayError('TG_ERR_PLUGIN', `plugin "${d.name}" has no numeric priority`);
  if (typeof d.setup !== 'function') throw new GatewayError('TG_ERR_PLUGIN', `plugin "${d.name}" has no setup function`);
}
