import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMockUpstream, messageStreamEvents, rawRequest, serializeSseEvents, type MockUpstream } from '@tollgate/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, killAll, spawnCli, type CliProcess } from './cli-process.js';

const UPSTREAM_KEY = 'sk-ant-upstream-cli-7f3e';
const MASTER_KEY = 'sk-tg-master-cli-41a9';
const BODY = JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] });
const LISTENING = /^tollgate listening on (http:\/\/127\.0\.0\.1:(\d+))$/;
const NO_UPSTREAM_KEY =
  'tollgate: warning: no upstream API key (providers.anthropic.apiKey or ANTHROPIC_API_KEY); requests will reach the upstream without a key';

let mock: MockUpstream;
let dir: string;
/** The CLI's working directory: the default ./.tollgate would land here, and must not. */
let cwd: string;
/** A fresh folder for each test's embedded database (env TOLLGATE_DATA_DIR). */
let dataDir: string;

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'tollgate-cli-'));
  cwd = join(dir, 'cwd');
  await mkdir(cwd);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  mock = await createMockUpstream();
  dataDir = await mkdtemp(join(dir, 'data-'));
});
afterEach(async () => {
  await killAll();
  await mock.close();
  expect(existsSync(join(cwd, '.tollgate'))).toBe(false);
});

/** The start-up summary of the default plugins, between the plugins line and the listening line. */
const summary = () => [
  'tollgate 0.1.0',
  `upstream: ${mock.url}`,
  `data store: sqlite:${join(dataDir, 'tollgate.db')}`,
  '/metrics: open to anyone who reaches this port (prometheus.requireKey protects it)',
  'console: /ui, signed in with the master key or a virtual key (a virtual key sees only its own data)',
];

/** Starts the CLI on a free port and resolves once it printed where it listens. */
async function startCli(args: string[] = [], env: Record<string, string> = {}): Promise<{ cli: CliProcess; url: string }> {
  const cli = spawnCli(
    ['--port', '0', '--host', '127.0.0.1', ...args],
    { ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: UPSTREAM_KEY, TOLLGATE_MASTER_KEY: MASTER_KEY, TOLLGATE_DATA_DIR: dataDir, ...env },
    cwd,
  );
  const [, url] = await cli.waitForStderr(LISTENING);
  return { cli, url };
}

function post(url: string, key: string | undefined, opts: Parameters<typeof rawRequest>[1] = {}) {
  return rawRequest(`${url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
    body: BODY,
    ...opts,
  });
}

describe('tollgate start', () => {
  it('writes the access line of a request to stdout within about a second, while still running', async () => {
    const { cli, url } = await startCli();
    expect((await post(url, MASTER_KEY)).status).toBe(200);
    // Lines are flushed every second; the deadline only leaves room for a loaded machine.
    const line = (await cli.waitForStdout(/"log":"access"/, 5000)).input!;
    expect(JSON.parse(line)).toMatchObject({ log: 'access', method: 'POST', path: '/anthropic/v1/messages', status: 200, caller: 'master' });
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('prints where it listens and the plugins, proxies with auth on by default, and exits 0 on SIGTERM', async () => {
    const { cli, url } = await startCli();
    expect(cli.stderr).toEqual(['plugins: auth (900), metadata (800), prometheus (750), console (400), cost (100), storage (0)', ...summary(), expect.stringMatching(LISTENING)]);
    expect(existsSync(join(dataDir, 'tollgate.db'))).toBe(true);

    const ok = await post(url, MASTER_KEY);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body.toString()).content).toEqual([{ type: 'text', text: 'Hello from mock' }]);
    expect(mock.requests.length).toBe(1);
    expect(mock.requests[0].headers['x-api-key']).toBe(UPSTREAM_KEY);
    expect(mock.requests[0].headers.authorization).toBeUndefined();

    const denied = await post(url, undefined);
    expect(denied.status).toBe(401);
    expect(JSON.parse(denied.body.toString()).error.type).toBe('authentication_error');
    expect(mock.requests.length).toBe(1);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stderr.slice(7)).toEqual([
      'tollgate: SIGTERM received, no longer accepting connections; finishing in-flight requests (up to 28000 ms), stopping within 30000 ms. Send it again to exit now.',
      'tollgate: stopped',
    ]);
    const logs = cli.stdout.join('\n');
    expect(logs).toContain('"msg":"master key required on provider routes"');
    expect(logs).not.toContain(MASTER_KEY);
    expect(logs).not.toContain(UPSTREAM_KEY);
  });

  it('warns when no upstream key is configured, and runs open without a master key', async () => {
    const { cli, url } = await startCli([], { ANTHROPIC_API_KEY: '', TOLLGATE_MASTER_KEY: '' });
    expect(cli.stderr).toEqual(['plugins: auth (900), metadata (800), prometheus (750), console (400), cost (100), storage (0)', NO_UPSTREAM_KEY, ...summary(), expect.stringMatching(LISTENING)]);
    const res = await post(url, 'sk-anything');
    expect(res.status).toBe(200);
    expect(mock.requests[0].headers['x-api-key']).toBeUndefined();
    const warning = (await cli.waitForStdout(/OPEN GATEWAY: no master key configured/)).input!;
    expect((JSON.parse(warning) as { level: number }).level).toBe(40);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it('lets an in-flight stream finish on SIGTERM, refuses new connections, then exits 0', async () => {
    const events = messageStreamEvents({ text: ['one ', 'two ', 'three ', 'four'] });
    mock.route('POST', '/v1/messages', { sse: events, eventDelayMs: 120 });
    const { cli, url } = await startCli();

    let firstChunk!: () => void;
    const gotFirstChunk = new Promise<void>((resolve) => (firstChunk = resolve));
    const streaming = post(url, MASTER_KEY, { onChunk: (_chunk, i) => i === 0 && firstChunk() });
    await gotFirstChunk;
    cli.child.kill('SIGTERM');
    await cli.waitForStderr(/^tollgate: SIGTERM received/);

    await expect(post(url, MASTER_KEY)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const res = await streaming;
    expect(res.error).toBeUndefined();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(serializeSseEvents(events));
    expect(res.chunks.length).toBeGreaterThan(1); // it really was in flight when the signal came
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(mock.requests.length).toBe(1);
    expect(mock.requests[0].closedEarly).toBe(false);
  });

  it('exits at once with code 1 on a second signal', async () => {
    mock.route('POST', '/v1/messages', { hang: true });
    const { cli, url } = await startCli(['--grace-ms', '600000']);
    const hanging = post(url, MASTER_KEY).catch((err: unknown) => err);
    await mock.waitForRequests(1);
    cli.child.kill('SIGINT');
    await cli.waitForStderr(/stopping within 600000 ms/);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr.at(-1)).toBe('tollgate: SIGTERM again, exiting now');
    expect(await hanging).toMatchObject({ code: 'ECONNRESET' });
  });

  it('cuts requests still running when the grace period is over, then exits 0', async () => {
    mock.route('POST', '/v1/messages', { hang: true });
    const { cli, url } = await startCli(['--grace-ms', '50']);
    const hanging = post(url, MASTER_KEY).catch((err: unknown) => err);
    await mock.waitForRequests(1);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    await hanging;
    await mock.requests[0].done;
    expect(mock.requests[0].closedEarly).toBe(true);
  });

  it('reads the config named by TOLLGATE_CONFIG, with ${ENV} substitution', async () => {
    const file = join(dir, 'env-subst.yaml');
    await writeFile(
      file,
      [
        'server:',
        '  host: ${GW_HOST:-127.0.0.1}',
        '  port: ${GW_PORT:-0}',
        'providers:',
        '  anthropic:',
        '    baseUrl: ${UPSTREAM_URL}',
        '    apiKey: ${UPSTREAM_KEY}',
        'plugins:',
        "  - use: '@tollgate/storage'",
        '    config:',
        '      dataDir: ${GW_DATA}',
        "  - use: '@tollgate/plugin-auth'",
        '    config:',
        '      masterKey: ${GW_MASTER}',
        '',
      ].join('\n'),
    );
    const env = { TOLLGATE_CONFIG: file, UPSTREAM_URL: mock.url, UPSTREAM_KEY: 'sk-ant-from-subst', GW_MASTER: 'sk-tg-from-subst', GW_DATA: dataDir };
    const cli = spawnCli([], env, cwd);
    const [, url] = await cli.waitForStderr(LISTENING);
    expect((await post(url, 'sk-tg-from-subst')).status).toBe(200);
    expect((await post(url, MASTER_KEY)).status).toBe(401);
    expect(mock.requests.length).toBe(1);
    expect(mock.requests[0].headers['x-api-key']).toBe('sk-ant-from-subst');
    expect(existsSync(join(dataDir, 'tollgate.db'))).toBe(true);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it('loads exactly the plugins a config lists', async () => {
    await writeFile(
      join(dir, 'hello-plugin.mjs'),
      "export default { name: 'hello', priority: 500, setup() { return { onRequest(ctx) { ctx.tags.push('hello'); } }; } };\n",
    );
    const file = join(dir, 'custom-plugins.yaml');
    await writeFile(file, 'plugins:\n  - use: ./hello-plugin.mjs\n');
    const { cli, url } = await startCli(['--config', file]);
    expect(cli.stderr).toEqual([
      'plugins: metadata (800), hello (500)',
      'tollgate 0.1.0',
      `upstream: ${mock.url}`,
      'data store: none (no storage plugin: keys and spend are not kept)',
      '/metrics: off (no prometheus plugin)',
      'console: off (add @tollgate/plugin-console)',
      expect.stringMatching(LISTENING),
    ]);
    expect((await post(url, undefined)).status).toBe(200); // no auth plugin: no key needed
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it('prints a bad config cleanly and exits 1', async () => {
    const file = join(dir, 'bad-start.yaml');
    await writeFile(file, 'server:\n  port: 4000\n  prot: 1\n');
    const cli = spawnCli(['--config', file], {}, cwd);
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr).toEqual(['tollgate: invalid config:', `  ${file}:3:3: server.prot: unknown key "prot"`]);
    expect(cli.stdout).toEqual([]);
  });

  it('reports a port already in use and exits 1', async () => {
    const cli = spawnCli(
      ['--port', String(mock.port), '--host', '127.0.0.1'],
      { ANTHROPIC_API_KEY: UPSTREAM_KEY, TOLLGATE_MASTER_KEY: MASTER_KEY, TOLLGATE_DATA_DIR: dataDir },
      cwd,
    );
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr).toEqual(['plugins: auth (900), metadata (800), prometheus (750), console (400), cost (100), storage (0)', `tollgate: listen EADDRINUSE: address already in use 127.0.0.1:${mock.port}`]);
  });
});
