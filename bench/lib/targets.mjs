// What gets benchmarked. A target is either `direct` (the load generator calls the mock) or a
// process started from a shell command, pinned to the target core. Placeholders in `cmd`:
//   {port}      the port the target must listen on (127.0.0.1)
//   {upstream}  the mock's base URL, e.g. http://127.0.0.1:41234
// Every process also gets ANTHROPIC_BASE_URL={upstream}, ANTHROPIC_API_KEY, TOLLGATE_MASTER_KEY,
// LOG_LEVEL in its environment. `path` is what clients POST to on that target.
import { existsSync, writeFileSync } from 'node:fs';

export const GATEWAY_PATH = '/anthropic/v1/messages';
export const CLI_MAIN = 'packages/cli/dist/main.js';
export const CORE_LAUNCHER = 'bench/lib/gateway-launcher.mjs';

export const CLI_CMD = `node ${CLI_MAIN} --port {port} --host 127.0.0.1`;
export const CORE_CMD = `node ${CORE_LAUNCHER} --port {port} --host 127.0.0.1`;

/**
 * The default target list. `gateway` is resolved from --gateway-cmd, else --gateway=cli|core|auto
 * (auto: the CLI when packages/cli/dist/main.js exists, else the core launcher).
 */
export function defaultTargets({ root, gateway = 'auto', gatewayCmd, proxyConnections, gatewayConnections, tmpDir }) {
  let mode = gateway;
  if (mode === 'auto') mode = existsSync(`${root}/${CLI_MAIN}`) ? 'cli' : 'core';
  if (mode === 'cli' && !existsSync(`${root}/${CLI_MAIN}`)) throw new Error(`--gateway=cli but ${CLI_MAIN} does not exist (run \`pnpm build\` or use --gateway=core)`);
  if (!['cli', 'core'].includes(mode)) throw new Error(`--gateway must be cli, core or auto, got ${gateway}`);
  const proxyArgs = proxyConnections ? ` --connections ${proxyConnections}` : '';
  // Raise the gateway's upstream pool cap (providers.anthropic.connections, default 256).
  let gatewayArgs = '';
  if (gatewayConnections && !gatewayCmd) {
    if (mode === 'core') gatewayArgs = ` --connections ${gatewayConnections}`;
    else {
      const file = `${tmpDir}/gateway-connections.yaml`;
      writeFileSync(file, `providers:\n  anthropic:\n    connections: ${Number(gatewayConnections)}\n`);
      gatewayArgs = ` --config ${file}`;
    }
  }
  return {
    gatewayMode: gatewayCmd ? 'custom' : mode,
    targets: [
      { name: 'direct', kind: 'direct', path: '/v1/messages' },
      { name: 'undici-proxy', kind: 'process', path: '/v1/messages', cmd: `node bench/lib/bare-proxy.mjs --port {port} --host 127.0.0.1 --upstream {upstream}${proxyArgs}` },
      { name: 'gateway', kind: 'process', path: GATEWAY_PATH, cmd: gatewayCmd ?? (mode === 'cli' ? CLI_CMD : CORE_CMD) + gatewayArgs },
    ],
  };
}

/** Parses `--target name[@path]=command` (path defaults to the gateway's mount). */
export function parseTargetFlag(spec) {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`--target wants name[@path]=command, got ${JSON.stringify(spec)}`);
  const head = spec.slice(0, eq);
  const at = head.indexOf('@');
  const name = at === -1 ? head : head.slice(0, at);
  const path = at === -1 ? GATEWAY_PATH : head.slice(at + 1);
  return { name, kind: 'process', path, cmd: spec.slice(eq + 1) };
}

/**
 * A command's leading `NAME=value` words, taken off `argv` (in place) as that target's own
 * environment.
 */
export function takeEnvWords(argv) {
  const env = {};
  while (argv.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(argv[0])) {
    const [k, ...v] = argv.shift().split('=');
    env[k] = v.join('=');
  }
  return env;
}
