// Prints the field table of docs/config.md from core's schema, so the two cannot drift:
//
//   npx tsc -b && node docs/config-table.mjs
//
// examples/test/docs.test.ts checks that docs/config.md contains exactly this output.

/**
 * One Markdown row per leaf field of a JSON Schema (objects are walked, arrays of objects
 * are shown as `name[].field`).
 * @param {Record<string, any>} schema
 * @returns {string}
 */
export function configTable(schema) {
  const rows = ['| Field | Type | Default | Description |', '| --- | --- | --- | --- |'];
  walk(schema, '', rows);
  return rows.join('\n');
}

/**
 * @param {Record<string, any>} node
 * @param {string} path
 * @param {string[]} rows
 */
function walk(node, path, rows) {
  if (path !== '') rows.push(`| \`${path}\` | ${type(node)} | ${dflt(node)} | ${escape(node.description ?? '')} |`);
  if (node.type === 'object' && node.properties) {
    for (const [key, child] of Object.entries(node.properties)) walk(child, path === '' ? key : `${path}.${key}`, rows);
  }
  if (node.type === 'array' && node.items?.type === 'object' && node.items.properties) {
    const required = new Set(node.items.required ?? []);
    for (const [key, child] of Object.entries(node.items.properties)) {
      walk(required.has(key) ? { ...child, description: `**Required.** ${child.description ?? ''}` } : child, `${path}[].${key}`, rows);
    }
  }
}

/** @param {Record<string, any>} node */
function type(node) {
  if (node.enum) return node.enum.map((/** @type {unknown} */ v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  const t = Array.isArray(node.type) ? node.type.join(' \\| ') : String(node.type);
  const limits = [];
  if (node.minimum !== undefined && node.maximum !== undefined) limits.push(`${node.minimum}–${node.maximum}`);
  else if (node.minimum !== undefined) limits.push(`≥ ${node.minimum}`);
  if (node.minLength !== undefined) limits.push(node.minLength === 1 ? 'non-empty' : `length ≥ ${node.minLength}`);
  if (node.pattern !== undefined) limits.push(`matches \`${node.pattern}\``);
  return limits.length > 0 ? `${t} (${limits.join(', ')})` : t;
}

/** @param {Record<string, any>} node */
function dflt(node) {
  if (!('default' in node)) return '—';
  return `\`${JSON.stringify(node.default)}\``;
}

/** @param {string} text */
function escape(text) {
  return text.replace(/\|/g, '\\|');
}

if (process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href) {
  // docs/ is not a workspace package: import core's build by path.
  const { coreConfigSchema } = await import('../packages/core/dist/index.js');
  console.log(configTable(coreConfigSchema));
}
