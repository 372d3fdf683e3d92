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
    const cli = spawnCli(['check-config', file]);
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stdout).toEqual([`${file}: ok`, 'plugins: auth (900), metadata (800), prometheus (750), console (400), cost (100), storage (0)']);
    expect(cli.stderr).toEqual([]);
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
    expect(cli.stderr).toEqual(['tollgate: invalid config:', `  ${file}:2:9: server.port: expected integer, got "abc"`]);
    const plugin = await configFile('plugin-option.yaml', ['plugins:', "  - use: '@tollgate/plugin-auth'", '    config:', '      masterkey: x', ''].join('\n'));
    const second = spawnCli(['check-config', plugin]);
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.stderr).toEqual(['tollgate: invalid config:', `  ${plugin}:4:7: plugins[0].config.masterkey: unknown key "masterkey"`]);
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
