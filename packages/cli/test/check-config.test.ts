import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, killAll, spawnCli } from './cli-process.js';

let dir: string;

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'tollgate-check-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(killAll);

async function configFile(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

describe('tollgate check-config', () => {
  it('says ok and lists the default plugins for a good file', async () => {
    const file = await configFile('good.yaml', 'server:\n  port: 4000\nproviders:\n  anthropic:\n    apiKey: ${KEY:-none}\n');
    const cli = spawnCli(['check-config', file], { TOLLGATE_DATA_DIR: join(dir, 'good-data') });
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stdout).toEqual([`${file}: ok`, 'plugins: auth (900), metadata (800), prometheus (750), console (400), cost (100), storage (0)']);
    expect(cli.stderr).toEqual([]);
  });

  it('refuses what start refuses once the plugins are set up, not only what the schemas see', async () => {
    const file = await configFile(
      'setup-refusal.yaml',
      ['plugins:', "  - use: '@tollgate/storage'", "  - use: '@tollgate/plugin-prometheus'", '    config:', '      requireKey: true', ''].join('\n'),
    );
    const env = { TOLLGATE_DATA_DIR: join(dir, 'setup-data') };
    const refusal = 'tollgate: prometheus.requireKey needs a metricsKey or an auth plugin with a master key';
    const check = spawnCli(['check-config', file], env);
    expect(await check.exited).toEqual({ code: 1, signal: null });
    expect(check.stderr).toEqual([refusal]);
    expect(check.stdout).toEqual([]);
    const start = spawnCli(['--config', file, '--port', '0', '--host', '127.0.0.1'], env);
    expect(await start.exited).toEqual({ code: 1, signal: null });
    expect(start.stderr).toEqual([refusal]);
  });

  it('reports every mistake of the file and its plugins in one run', async () => {
    const file = await configFile(
      'many-mistakes.yaml',
      [
        'server:',
        '  port: abc',
        '  prot: 1',
        'providers:',
        '  anthropic:',
        '    apiKey: ${NO_SUCH_KEY}',
        'plugins:',
        "  - use: '@tollgate/storage'",
        "  - use: '@tollgate/plugin-auth'",
        '    config:',
        '      masterkey: x',
        "  - use: './no-such-plugin.mjs'",
        '',
      ].join('\n'),
    );
    const cli = spawnCli(['check-config', file], { LOG_LEVEL: 'loud' });
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr).toEqual([
      'tollgate: invalid config:',
      `  ${file}:6:13: providers.anthropic.apiKey: environment variable NO_SUCH_KEY is not set (use \${NO_SUCH_KEY:-default} for a default)`,
      `  ${file}:3:3: server.prot: unknown key "prot"`,
      `  ${file}:2:9: server.port: expected integer, got "abc"`,
      expect.stringMatching(/^  cannot load plugin "\.\/no-such-plugin\.mjs": Cannot find module /),
      `  ${file}:11:7: plugins[1].config.masterkey: unknown key "masterkey"`,
    ]);
    expect(cli.stdout).toEqual([]);
  });

  it('rejects an unknown key with file:line:col and exits 1, without a stack trace', async () => {
    const file = await configFile('unknown-key.yaml', 'server:\n  port: 4000\n  prot: 4001\n');
    const cli = spawnCli(['check-config', file]);
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr).toEqual(['tollgate: invalid config:', `  ${file}:3:3: server.prot: unknown key "prot"`]);
    expect(cli.stdout).toEqual([]);
  });

  it('rejects a wrong type, and a bad plugin option, with their positions', async () => {
    const file = await configFile(
      'wrong-type.yaml',
      ['server:', '  port: abc', 'plugins:', "  - use: '@tollgate/plugin-auth'", '    config:', '      masterkey: x', ''].join('\n'),
    );
    const cli = spawnCli(['check-config', file]);
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    // All at once: the file's mistake and its plugins' (once, this was one phase per run).
    expect(cli.stderr).toEqual([
      'tollgate: invalid config:',
      `  ${file}:2:9: server.port: expected integer, got "abc"`,
      `  ${file}:6:7: plugins[0].config.masterkey: unknown key "masterkey"`,
      '  plugin "auth" needs plugin "storage", which is not loaded',
    ]);
    const plugin = await configFile('plugin-option.yaml', ['plugins:', "  - use: '@tollgate/plugin-auth'", '    config:', '      masterkey: x', ''].join('\n'));
    const second = spawnCli(['check-config', plugin]);
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stderr).toEqual([
      'tollgate: invalid config:',
      `  ${plugin}:4:7: plugins[0].config.masterkey: unknown key "masterkey"`,
      '  plugin "auth" needs plugin "storage", which is not loaded',
    ]);
  });

  it('rejects the auth plugin without the storage plugin it needs', async () => {
    const file = await configFile('auth-only.yaml', "plugins:\n  - use: '@tollgate/plugin-auth'\n");
    const cli = spawnCli(['check-config', file]);
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr).toEqual(['tollgate: plugin "auth" needs plugin "storage", which is not loaded']);
    expect(cli.stdout).toEqual([]);
  });

  it('takes the file from TOLLGATE_CONFIG and reports a missing file', async () => {
    const missing = join(dir, 'missing.yaml');
    const cli = spawnCli(['check-config'], { TOLLGATE_CONFIG: missing });
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr).toEqual([`tollgate: cannot read config file ${missing}: ENOENT: no such file or directory, open '${missing}'`]);
  });
});
