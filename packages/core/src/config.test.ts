import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from './config.js';
import { GatewayError } from './errors.js';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('TG_ERR_CONFIG');
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

describe('parseConfig', () => {
  it('applies every default when there is no config at all', () => {
    const c = parseConfig({}, { env: {} });
    expect(c.server).toEqual({ host: '0.0.0.0', port: 4000, bodyLimit: 33554432, uploadLimit: 524288000, bodyReadLimit: 268435456, shutdownGraceMs: 30000, keepAliveTimeoutMs: 65000 });
    expect(c.requests).toEqual({ maxJsonDepth: 256, maxEndUserLength: 256, maxTags: 64, maxTagLength: 256 });
    expect(c.log).toEqual({ level: 'info', accessLog: true });
    expect(c.providers.anthropic).toEqual({ baseUrl: 'https://api.anthropic.com', apiKey: undefined, timeoutMs: 600000, idleTimeoutMs: 300000, connections: null });
    expect(c.plugins).toEqual([]);
  });

  it('fills unset fields from the environment, but the file wins', () => {
    const env = { PORT: '5000', HOST: '127.0.0.1', ANTHROPIC_BASE_URL: 'http://up:1/prefix', ANTHROPIC_API_KEY: 'sk-env', LOG_LEVEL: 'debug' };
    const fromEnv = parseConfig({}, { env });
    expect(fromEnv.server.port).toBe(5000);
    expect(fromEnv.server.host).toBe('127.0.0.1');
    expect(fromEnv.log.level).toBe('debug');
    expect(fromEnv.providers.anthropic.baseUrl).toBe('http://up:1/prefix');
    expect(fromEnv.providers.anthropic.apiKey).toBe('sk-env');
    const fileWins = parseConfig('server: { port: 4000, host: 0.0.0.0 }\nproviders: { anthropic: { apiKey: sk-file } }\n', { env });
    expect(fileWins.server.port).toBe(4000);
    expect(fileWins.server.host).toBe('0.0.0.0');
    expect(fileWins.providers.anthropic.apiKey).toBe('sk-file');
  });

  it('substitutes ${ENV} and ${ENV:-default}, typing whole-value references', () => {
    const c = parseConfig('server:\n  port: ${P:-4100}\n  host: ${H}\nproviders:\n  anthropic:\n    apiKey: key-${K:-none}-x\n', { env: { H: '::1' } });
    expect(c.server.port).toBe(4100);
    expect(c.server.host).toBe('::1');
    expect(c.providers.anthropic.apiKey).toBe('key-none-x');
  });

  it('names the file, line, column and variable of an unset ${ENV}', () => {
    const msg = configError(() => parseConfig('server:\n  host: ${NOPE}\n', { source: 'gw.yaml', env: {} }));
    expect(msg).toContain('gw.yaml:2:9: server.host: environment variable NOPE is not set');
  });

  it('names the list index of an unset ${ENV} inside a list', () => {
    const msg = configError(() => parseConfig('plugins:\n  - use: a\n  - use: b\n    config:\n      masterKey: ${MK}\n', { source: 'gw.yaml', env: {} }));
    expect(msg).toContain('gw.yaml:5:18: plugins[1].config.masterKey: environment variable MK is not set');
  });

  it('rejects unknown keys with their line', () => {
    const msg = configError(() => parseConfig('server:\n  port: 1\n  prot: 2\n', { source: 'gw.yaml', env: {} }));
    expect(msg).toContain('gw.yaml:3:3: server.prot: unknown key "prot"');
  });

  it('rejects wrong types and bad values with what was expected', () => {
    const msg = configError(() => parseConfig('server:\n  port: abc\nlog:\n  level: loud\n', { source: 'gw.yaml', env: {} }));
    expect(msg).toContain('gw.yaml:2:9: server.port: expected integer, got "abc"');
    expect(msg).toContain('gw.yaml:4:10: log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"');
  });

  it('points into plugin lists', () => {
    const msg = configError(() => parseConfig('plugins:\n  - use: a\n  - config: {}\n', { source: 'gw.yaml', env: {} }));
    expect(msg).toContain('gw.yaml:3:5: plugins[1]: missing required key "use"');
  });

  it('reports YAML syntax errors with a position', () => {
    const msg = configError(() => parseConfig('server: [1, 2\n', { source: 'gw.yaml', env: {} }));
    expect(msg).toMatch(/^gw\.yaml:\d+:\d+: invalid YAML/);
  });

  it('rejects a bad PORT in the environment', () => {
    expect(configError(() => parseConfig({}, { env: { PORT: 'x' } }))).toBe('PORT must be an integer 0-65535, got "x"');
  });
});

describe('loadConfig', () => {
  it('reads a file and resolves plugin paths against its folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tg-config-'));
    const file = join(dir, 'tollgate.yaml');
    await writeFile(file, 'plugins:\n  - use: ./my-plugin.js\n    config: { greeting: hi }\n');
    const c = await loadConfig(file, {});
    expect(c.baseDir).toBe(dir);
    expect(c.source).toBe(file);
    expect(c.plugins).toEqual([{ use: './my-plugin.js', enabled: true, config: { greeting: 'hi' } }]);
  });

  it('says which file it could not read', async () => {
    await expect(loadConfig('/nonexistent/tollgate.yaml', {})).rejects.toThrow('cannot read config file /nonexistent/tollgate.yaml');
  });
});
