import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isPair, isScalar, isSeq, visit, type Document } from 'yaml';
import { GatewayError } from './errors.js';
import { coreConfigSchema, type GatewayConfig } from './config-schema.js';
import { upstreamList } from './upstream-config.js';

type Env = Record<string, string | undefined>;
/** Turns a path inside the config document into `file:line:col`. */
type Locate = (path: readonly (string | number)[], atKey?: boolean) => string;

const locations = new WeakMap<object, Locate>();
const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_ENV_REF = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/**
 * Reads, substitutes `${ENV}` / `${ENV:-default}`, validates against core's schema and
 * applies defaults, then fills unset fields from the environment (PORT, HOST, LOG_LEVEL,
 * ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY). Errors name the file, line, column and path.
 *
 * @example
 * const config = await loadConfig('tollgate.yaml', process.env);
 */
export async function loadConfig(file: string, env: Env = process.env, options: { problems?: string[] } = {}): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new GatewayError('TG_ERR_CONFIG', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  return parseConfig(text, { source: file, baseDir: dirname(resolve(file)), env, problems: options.problems });
}

/**
 * Same as `loadConfig` for YAML text (or an already-parsed object when `text` is an object).
 *
 * @example
 * const config = parseConfig('server: { port: 0 }', { env: {} });
 */
export function parseConfig(
  text: string | Record<string, unknown>,
  options: { source?: string; baseDir?: string; env?: Env; problems?: string[] } = {},
): GatewayConfig {
  const env = options.env ?? process.env;
  const source = options.source ?? '<config>';
  // Every mistake below is reported at once: unset variables, schema errors, bad env values.
  const problems: string[] = [];
  let raw: unknown;
  let locate: Locate = (path) => `${source}: ${formatPath(path)}`;
  if (typeof text === 'string') {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const pos = lines.linePos(e.pos[0]);
      throw new GatewayError('TG_ERR_CONFIG', `${source}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${e.message.split('\n')[0]}`);
    }
    locate = (path, atKey) => `${source}${nodePosition(doc, lines, path, atKey)}: ${formatPath(path)}`;
    problems.push(...substituteEnv(doc, env, locate));
    raw = doc.toJS() ?? {};
  } else {
    raw = structuredClone(text);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GatewayError('TG_ERR_CONFIG', `${source}: the config must be a mapping`);
  }
  const given = raw as { server?: { port?: unknown; host?: unknown }; log?: { level?: unknown }; providers?: { anthropic?: { apiKey?: unknown } } };
  const shorthandKey = given.providers?.anthropic?.apiKey !== undefined;
  const explicit = { port: given.server?.port !== undefined, host: given.server?.host !== undefined, level: given.log?.level !== undefined };
  const schemaProblems = problemsOf(coreConfigSchema, raw, [], locate);
  // A value whose variable is unset was already reported: not again as an empty string.
  const unset = problems.map((p) => p.slice(0, p.indexOf(': environment variable ') + 2));
  problems.push(...schemaProblems.filter((p) => !unset.some((prefix) => p.startsWith(prefix))));
  const config = raw as GatewayConfig;
  // The fallbacks write into sections the schema may just have refused.
  if (schemaProblems.length === 0) {
    problems.push(...applyEnvFallbacks(config, env, explicit));
    // Duplicate upstream names, or a key given both ways, fail here rather than at the first request.
    try {
      upstreamList(config.providers.anthropic, shorthandKey);
    } catch (err) {
      problems.push((err as Error).message.replace(/^invalid config: /, ''));
    }
  }
  if (problems.length > 0) {
    // A caller that collects (check-config) goes on to check the plugins too.
    if (!options.problems) throw invalidConfig(problems);
    options.problems.push(...problems);
  }
  config.source = source;
  config.baseDir = options.baseDir ?? process.cwd();
  locations.set(config, locate);
  return config;
}

/** True for a config that came out of `loadConfig`/`parseConfig`. */
export function isLoadedConfig(value: unknown): value is GatewayConfig {
  return typeof value === 'object' && value !== null && locations.has(value);
}

/**
 * Validates `value` in place (defaults applied) against a JSON Schema; throws a
 * TG_ERR_CONFIG GatewayError listing every problem with its location.
 *
 * @example
 * validateSection(plugin.configSchema, entry.config, ['plugins', 0, 'config'], config);
 */
export function validateSection(schema: object, value: unknown, at: (string | number)[], config?: GatewayConfig): void {
  const locate = (config && locations.get(config)) ?? ((path: readonly (string | number)[]) => `${config?.source ?? '<config>'}: ${formatPath(path)}`);
  validate(schema, value, at, locate);
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const compiled = new WeakMap<object, ReturnType<Ajv['compile']>>();

function validate(schema: object, value: unknown, at: (string | number)[], locate: Locate): void {
  const problems = problemsOf(schema, value, at, locate);
  if (problems.length > 0) throw invalidConfig(problems);
}

function problemsOf(schema: object, value: unknown, at: (string | number)[], locate: Locate): string[] {
  let check = compiled.get(schema);
  if (!check) {
    check = ajv.compile(schema);
    compiled.set(schema, check);
  }
  if (check(value)) return [];
  return [...new Set((check.errors ?? []).map((e) => describe(e, value, at, locate)))];
}

/**
 * One TG_ERR_CONFIG error listing every problem, one per line.
 *
 * @example
 * invalidConfig(['a.yaml:2:9: server.port: expected integer, got "abc"']);
 */
export function invalidConfig(problems: readonly string[]): GatewayError {
  return new GatewayError('TG_ERR_CONFIG', `invalid config:\n  ${problems.join('\n  ')}`);
}

/**
 * The problems an error stands for: the lines of an `invalidConfig` error, else its message.
 *
 * @example
 * problemLines(invalidConfig(['x', 'y'])); // ['x', 'y']
 */
export function problemLines(err: GatewayError): string[] {
  const head = 'invalid config:\n  ';
  return err.message.startsWith(head) ? err.message.slice(head.length).split('\n  ') : [err.message];
}

function describe(e: ErrorObject, root: unknown, at: (string | number)[], locate: Locate): string {
  const path = [...at, ...pointerToPath(e.instancePath)];
  const actual = pointerToPath(e.instancePath).reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], root);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      return `${locate([...path, key], true)}: unknown key "${key}"`;
    }
    case 'required':
      return `${locate(path)}: missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `${locate(path)}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(actual)}`;
    case 'type':
      return `${locate(path)}: expected ${(e.params as { type: string }).type}, got ${JSON.stringify(actual)}`;
    default:
      return `${locate(path)}: ${e.message ?? 'invalid'}, got ${JSON.stringify(actual)}`;
  }
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(root)' : out;
}

function nodePosition(doc: Document, lines: LineCounter, path: readonly (string | number)[], atKey = false): string {
  const at = (offset: number) => {
    const pos = lines.linePos(offset);
    return `:${pos.line}:${pos.col}`;
  };
  // Walk up until the document has the node, so a missing key still points at its parent.
  for (let n = path.length; n >= 0; n--) {
    if (atKey && n > 0) {
      const parent = doc.getIn(path.slice(0, n - 1), true) as { items?: { key?: { value?: unknown; range?: number[] } }[] } | undefined;
      const pair = parent?.items?.find((it) => it.key?.value === path[n - 1]);
      if (pair?.key?.range) return at(pair.key.range[0]);
    }
    const node = doc.getIn(path.slice(0, n), true) as { range?: number[] } | undefined;
    if (node && typeof node === 'object' && node.range) return at(node.range[0]);
  }
  return '';
}

function substituteEnv(doc: Document, env: Env, locate: Locate): string[] {
  const missing: string[] = [];
  visit(doc, {
    Scalar(_key, node, path) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const original = node.value;
      const replaced = original.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        missing.push(`${locate(docPath(path, node))}: environment variable ${name} is not set (use \${${name}:-default} for a default)`);
        return '';
      });
      // `port: ${PORT:-4000}` should be the number 4000, not the string "4000".
      node.value = WHOLE_ENV_REF.test(original) ? scalarValue(replaced) : replaced;
    },
  });
  return missing;
}

/** The key path of a node from its ancestors, list indexes included. */
function docPath(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  ancestors.forEach((a, i) => {
    if (isPair(a) && isScalar(a.key)) out.push(String(a.key.value));
    else if (isSeq(a)) out.push(a.items.indexOf((ancestors[i + 1] ?? node) as never));
  });
  return out;
}

function scalarValue(text: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}

const LEVELS: readonly string[] = coreConfigSchema.properties.log.properties.level.enum;

// Env fills what the file leaves unset; the file wins when both are given.
function applyEnvFallbacks(config: GatewayConfig, env: Env, explicit: { port: boolean; host: boolean; level: boolean }): string[] {
  const problems: string[] = [];
  if (!explicit.port && env.PORT) {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`PORT must be an integer 0-65535, got ${JSON.stringify(env.PORT)}`);
    else config.server.port = port;
  }
  if (!explicit.host && env.HOST) config.server.host = env.HOST;
  if (!explicit.level && env.LOG_LEVEL) {
    if (!LEVELS.includes(env.LOG_LEVEL)) problems.push(`LOG_LEVEL must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(env.LOG_LEVEL)}`);
    else config.log.level = env.LOG_LEVEL;
  }
  const anthropic = config.providers.anthropic;
  anthropic.baseUrl ??= env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com';
  anthropic.apiKey ??= env.ANTHROPIC_API_KEY || undefined;
  return problems;
}
