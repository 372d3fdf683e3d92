import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { rawRequest } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PACKAGES = ['core', 'storage', 'plugin-auth', 'plugin-cost', 'plugin-prometheus', 'plugin-logging', 'plugin-console', 'cli'];
const MASTER_KEY = 'sk-master-packed-install-5e0c';

let dir: string;
let app: string;
const tarballs: string[] = [];

/**
 * Packs every published package with `pnpm pack` (as a release would) and installs the
 * tarballs with npm into an empty folder, outside the workspace: third-party dependencies
 * come from the registry. better-sqlite3's native build is the one slow step (minutes on a
 * busy machine), so its install script is skipped and the workspace's binary of the same
 * version, built for this same Node, is copied in; a different version is built as usual.
 */
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-packed-'));
  const packs = join(dir, 'packs');
  app = join(dir, 'app');
  await mkdir(app);
  for (const name of PACKAGES) {
    const { stdout } = await run('pnpm', ['pack', '--pack-destination', packs], { cwd: join(ROOT, 'packages', name) });
    tarballs.push(stdout.trim().split('\n').at(-1)!.trim());
  }
  await writeFile(join(app, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
  await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], { cwd: app, maxBuffer: 1 << 24 });
  const version = async (root: string) => (JSON.parse(await readFile(join(root, 'better-sqlite3/package.json'), 'utf8')) as { version: string }).version;
  const ours = join(ROOT, 'packages/storage/node_modules');
  if ((await version(join(app, 'node_modules'))) === (await version(ours))) {
    await mkdir(join(app, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
    await copyFile(join(ours, 'better-sqlite3/build/Release/better_sqlite3.node'), join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'));
  } else {
    await run('npm', ['rebuild', 'better-sqlite3'], { cwd: app, env: { ...process.env, npm_config_nodedir: '/usr' } });
  }
}, 600_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the packed packages', { timeout: 120_000 }, () => {
  it('name real versions (no workspace: or catalog: specifiers), and every export and type file they point at is in the tarball', async () => {
    for (const tarball of tarballs) {
      const { stdout: listing } = await run('tar', ['-tzf', tarball]);
      const files = new Set(listing.split('\n').map((f) => f.replace(/^package\//, '')));
      const { stdout } = await run('tar', ['-xOzf', tarball, 'package/package.json']);
      const pkg = JSON.parse(stdout) as { name: string; license: string; exports: Record<string, Record<string, string>>; dependencies?: object; peerDependencies?: object; bin?: Record<string, string> };
      expect(JSON.stringify([pkg.dependencies, pkg.peerDependencies]), pkg.name).not.toMatch(/workspace:|catalog:/);
      expect(pkg.license).toBe('MIT');
      expect(files.has('LICENSE'), `${pkg.name} ships LICENSE`).toBe(true);
      for (const [entry, conditions] of Object.entries(pkg.exports)) {
        for (const target of [conditions.types, conditions.default]) expect(files.has(target.slice(2)), `${pkg.name} ${entry} → ${target}`).toBe(true);
      }
      for (const bin of Object.values(pkg.bin ?? {})) expect(files.has(bin.slice(2))).toBe(true);
    }
  });

  it('run as `tollgate` from an npm install, with a plugin from the user\'s own folder importing @tollgate/core', async () => {
    const bin = join(app, 'node_modules/.bin/tollgate');
    const version = await run(bin, ['--version'], { cwd: app });
    expect(version.stdout.trim()).toBe('0.1.0');

    await writeFile(join(app, 'hello-plugin.mjs'), [
      "import { definePlugin, GatewayError } from '@tollgate/core';",
      "export default definePlugin({ name: 'hello', priority: 500, setup(api) {",
      "  api.route('GET', '/hello', (req) => { if (!req.query.get('who')) throw new GatewayError('TG_ERR_BAD_REQUEST', 'who?'); return { body: { hello: req.query.get('who') } }; });",
      '} });',
      '',
    ].join('\n'));
    await writeFile(join(app, 'tollgate.yaml'), [
      'plugins:',
      "  - use: '@tollgate/storage'",
      "  - use: '@tollgate/plugin-auth'",
      "  - use: '@tollgate/plugin-cost'",
      "  - use: '@tollgate/plugin-console'",
      '  - use: ./hello-plugin.mjs',
      '',
    ].join('\n'));
    const child = spawn(bin, ['--config', 'tollgate.yaml', '--port', '0', '--host', '127.0.0.1'], {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', TOLLGATE_MASTER_KEY: MASTER_KEY, TOLLGATE_DATA_DIR: join(app, 'data'), ANTHROPIC_API_KEY: 'sk-ant-unused' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const stderr: string[] = [];
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stderr! }).on('line', (line) => {
          stderr.push(line);
          const m = /^tollgate listening on (\S+)$/.exec(line);
          if (m) resolve(m[1]);
        });
        child.once('exit', (code) => reject(new Error(`tollgate exited with ${code}: ${stderr.join('\n')}`)));
      });
      expect(stderr[0]).toBe('plugins: auth (900), metadata (800), hello (500), console (400), cost (100), storage (0)');
      const hello = await rawRequest(`${url}/hello?who=npm`);
      expect([hello.status, JSON.parse(hello.body.toString())]).toEqual([200, { hello: 'npm' }]);
      // The user's GatewayError is the gateway's: one copy of core, so the coded error maps to a 400.
      const bad = await rawRequest(`${url}/hello`);
      expect([bad.status, JSON.parse(bad.body.toString()).error]).toEqual([400, { type: 'invalid_request_error', message: 'who?' }]);
      const page = await rawRequest(`${url}/ui`);
      expect(page.status).toBe(200);
      expect((await rawRequest(`${url}/ui/vendor/preact.mjs`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
