// Fallback gateway process for when packages/cli/dist/main.js is not built (`--gateway=core`):
// builds the gateway straight from @tollgate/core's dist, with @tollgate/plugin-auth when its
// dist exists (plus the plugins it depends on, e.g. storage), and listens. Environment as for the
// CLI (ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, TOLLGATE_MASTER_KEY, LOG_LEVEL, TOLLGATE_DATA_DIR).
// Prints `tollgate listening on http://HOST:PORT` on stderr.
//
//   node bench/lib/gateway-launcher.mjs --port 4000 --host 127.0.0.1 [--connections N] [--no-auth]
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createGateway } from '../../packages/core/dist/index.js';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '4000' },
    host: { type: 'string', default: '127.0.0.1' },
    'no-auth': { type: 'boolean', default: false },
    // providers.anthropic.connections (the upstream pool cap, core default 256).
    connections: { type: 'string' },
  },
});

const plugins = [];
const pluginFrom = async (dist) => {
  const mod = await import(dist);
  return mod.default ?? Object.values(mod).find((v) => v && typeof v === 'object' && typeof v.setup === 'function' && typeof v.name === 'string');
};
const distOf = (dir) => fileURLToPath(new URL(`../../packages/${dir}/dist/index.js`, import.meta.url));
if (!opts['no-auth'] && existsSync(distOf('plugin-auth'))) {
  const auth = await pluginFrom(distOf('plugin-auth'));
  if (auth) plugins.push(auth);
  else console.error('gateway-launcher: plugin-auth dist has no plugin export; running without auth');
} else if (!opts['no-auth']) {
  console.error('gateway-launcher: packages/plugin-auth/dist not built; running without auth');
}
// Plugins the loaded ones depend on (e.g. auth → storage), from packages/<name> or packages/plugin-<name>.
for (let i = 0; i < plugins.length; i++) {
  for (const dep of plugins[i].dependencies ?? []) {
    if (plugins.some((p) => p.name === dep)) continue;
    const dist = [distOf(dep), distOf(`plugin-${dep}`)].find((f) => existsSync(f));
    if (!dist) throw new Error(`gateway-launcher: plugin "${plugins[i].name}" needs "${dep}", and no packages/${dep}/dist or packages/plugin-${dep}/dist is built`);
    plugins.push(await pluginFrom(dist));
  }
}

const config = opts.connections ? { providers: { anthropic: { connections: Number(opts.connections) } } } : {};
const gw = await createGateway({ config, plugins });
const { url } = await gw.listen({ port: Number(opts.port), host: opts.host });
console.error(`tollgate listening on ${url} (bench core launcher; plugins: ${gw.plugins.map((p) => p.name).join(', ')})`);

const stop = () => void gw.close({ graceMs: 0 }).finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
