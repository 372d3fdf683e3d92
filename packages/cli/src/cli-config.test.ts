import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFile, loadCliConfig } from './cli-config.js';

const DEFAULTS = [
  { use: '@tollgate/storage', enabled: true, config: {} },
  { use: '@tollgate/plugin-auth', enabled: true, config: {} },
  { use: '@tollgate/plugin-cost', enabled: true, config: {} },
  { use: '@tollgate/plugin-prometheus', enabled: true, config: {} },
  { use: '@tollgate/plugin-console', enabled: true, config: {} },
];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-cli-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configFile', () => {
  it('takes the flag, else TOLLGATE_CONFIG, else none', () => {
    expect(configFile('flag.yaml', { TOLLGATE_CONFIG: 'env.yaml' })).toBe('flag.yaml');
    expect(configFile(undefined, { TOLLGATE_CONFIG: 'env.yaml' })).toBe('env.yaml');
    expect(configFile(undefined, { TOLLGATE_CONFIG: '' })).toBeUndefined();
    expect(configFile(undefined, {})).toBeUndefined();
  });
});

describe('loadCliConfig', () => {
  it('without a file: defaults from the environment, and the storage and auth plugins', async () => {
    const config = await loadCliConfig(undefined, { PORT: '4100', ANTHROPIC_BASE_URL: 'http://up:9', ANTHROPIC_API_KEY: 'sk-up' });
    expect(config.server.port).toBe(4100);
    expect(config.providers.anthropic.baseUrl).toBe('http://up:9');
    expect(config.providers.anthropic.apiKey).toBe('sk-up');
    expect(config.plugins).toEqual(DEFAULTS);
  });

  it('adds the default plugins to a file that lists none', async () => {
    const file = join(dir, 'no-plugins.yaml');
    await writeFile(file, 'server:\n  port: 0\n');
    expect((await loadCliConfig(file, {})).plugins).toEqual(DEFAULTS);
    await writeFile(file, 'plugins: []\n');
    expect((await loadCliConfig(file, {})).plugins).toEqual(DEFAULTS);
  });

  it('keeps exactly the plugins a file lists', async () => {
    const file = join(dir, 'plugins.yaml');
    await writeFile(file, "plugins:\n  - use: ./mine.js\n  - use: '@tollgate/plugin-auth'\n    enabled: false\n");
    expect((await loadCliConfig(file, {})).plugins).toEqual([
      { use: './mine.js', enabled: true, config: {} },
      { use: '@tollgate/plugin-auth', enabled: false, config: {} },
    ]);
  });
});
