import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMockUpstream, rawRequest } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USAGE } from './args.js';
import type { CliIo, SignalSource } from './io.js';
import { runCli } from './run.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-run-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const logs: string[] = [];
  const signals = new EventEmitter();
  const lines = new EventEmitter();
  const io: CliIo = {
    env,
    out: (l) => void out.push(l),
    err: (l) => {
      err.push(l);
      lines.emit('line', l);
    },
    signals: signals as SignalSource,
    exitNow: (code) => {
      throw new Error(`unexpected exitNow(${code})`);
    },
    logDestination: { write: (l: string) => void logs.push(l) },
  };
  /** Resolves with the first stderr line starting with `prefix`; rejects after `timeoutMs`. */
  const waitForErr = (prefix: string, timeoutMs = 5000) =>
    new Promise<string>((resolve, reject) => {
      const seen = err.find((l) => l.startsWith(prefix));
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`no "${prefix}" line: ${err.join('\n')}`)), timeoutMs);
      const onLine = (l: string) => {
        if (!l.startsWith(prefix)) return;
        clearTimeout(timer);
        lines.off('line', onLine);
        resolve(l);
      };
      lines.on('line', onLine);
    });
  return { io, out, err, logs, signals, waitForErr };
}

describe('runCli', () => {
  it('prints help and the version to stdout', async () => {
    const help = capture();
    expect(await runCli(['--help'], help.io)).toBe(0);
    expect(help.out).toEqual([USAGE]);
    const version = capture();
    expect(await runCli(['--version'], version.io)).toBe(0);
    expect(version.out).toEqual(['0.1.0']);
  });

  it('prints each command\'s own help, which names only that command', async () => {
    const first = async (argv: string[]) => {
      const c = capture();
      expect(await runCli(argv, c.io)).toBe(0);
      return c.out.join('\n');
    };
    expect((await first(['start', '--help'])).split('\n')[0]).toBe('Usage: tollgate [start] [--config FILE] [--port N] [--host H] [--grace-ms N] [--data-dir DIR]');
    expect((await first(['check-config', '--help'])).split('\n')[0]).toBe('Usage: tollgate check-config [FILE]');
    const keys = await first(['keys', 'create', '--help']);
    expect(keys.split('\n')[0]).toBe('Usage: tollgate keys COMMAND [ARGS] [--url URL] [--master-key KEY] [--json]');
    expect(keys).toContain('--max-budget USD');
    expect(keys).not.toContain('spend report');
    const spend = await first(['spend', 'logs', '-h']);
    expect(spend).toContain('spend logs [--key KEY]');
    expect(spend).not.toContain('keys create');
    expect((await first(['prices', '--help'])).split('\n')[0]).toBe('Usage: tollgate prices [reload | diff FILE] [--wide] [--url URL] [--master-key KEY] [--json]');
    expect(await first(['help', 'keys'])).toBe(keys);
  });

  it('exits 2 on a usage error', async () => {
    const c = capture();
    expect(await runCli(['--port', 'x'], c.io)).toBe(2);
    expect(c.err).toEqual(['tollgate: --port must be an integer from 0 to 65535, got "x"', 'Run "tollgate --help" for usage.']);
    const none = capture();
    expect(await runCli(['check-config'], none.io)).toBe(2);
    expect(none.err).toEqual(['tollgate: check-config needs a config file (an argument, --config or env TOLLGATE_CONFIG)']);
  });

  it('check-config reports the plugins of a good file and the error of a bad one', async () => {
    const good = join(dir, 'good.yaml');
    await writeFile(good, "plugins:\n  - use: '@tollgate/storage'\n  - use: '@tollgate/plugin-auth'\n    priority: 950\n    config: { masterKey: k }\n");
    const ok = capture();
    expect(await runCli(['check-config', good], ok.io)).toBe(0);
    expect(ok.out).toEqual([`${good}: ok`, 'plugins: auth (950), metadata (800), storage (0)']);
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'log:\n  level: loud\n');
    const ko = capture({ TOLLGATE_CONFIG: bad });
    expect(await runCli(['check-config'], ko.io)).toBe(1);
    expect(ko.err).toEqual([
      `tollgate: invalid config:\n  ${bad}:2:10: log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"`,
    ]);
  });

  it('starts in-process, serves, and stops on a signal with exit code 0', async () => {
    const mock = await createMockUpstream();
    try {
      const dataDir = join(dir, 'data');
      const c = capture({ ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: 'sk-up', TOLLGATE_MASTER_KEY: 'sk-master', TOLLGATE_DATA_DIR: dataDir });
      const running = runCli(['--port', '0', '--host', '127.0.0.1', '--grace-ms', '5000'], c.io);
      const url = (await c.waitForErr('tollgate listening on ')).slice('tollgate listening on '.length);
      const res = await rawRequest(`${url}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-master', 'content-type': 'application/json' },
        body: '{"model":"claude-sonnet-5-5","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]}',
      });
      expect(res.status).toBe(200);
      c.signals.emit('SIGTERM', 'SIGTERM');
      expect(await running).toBe(0);
      expect(c.err).toEqual([
        'plugins: auth (900), metadata (800), prometheus (750), console (400), cost (100), storage (0)',
        'tollgate 0.1.0',
        `upstream: ${mock.url}`,
        `data store: sqlite:${join(dataDir, 'tollgate.db')}`,
        '/metrics: open to anyone who reaches this port (prometheus.requireKey protects it)',
        'console: /ui, signed in with the master key or a virtual key (a virtual key sees only its own data)',
        expect.stringMatching(/^tollgate listening on http:\/\/127\.0\.0\.1:\d+$/),
        'tollgate: SIGTERM received, no longer accepting connections; finishing in-flight requests (up to 3750 ms), stopping within 5000 ms. Send it again to exit now.',
        'tollgate: stopped',
      ]);
      expect(c.logs.map((l) => JSON.parse(l).msg)).toContain('master key required on provider routes');
      expect(existsSync(join(dataDir, 'tollgate.db'))).toBe(true);
    } finally {
      await mock.close();
    }
  });

  it('reloads the upstream pool from the config file on SIGHUP, and keeps it when the file is bad', async () => {
    const [a, b] = [await createMockUpstream({ apiKey: 'sk-a' }), await createMockUpstream({ apiKey: 'sk-b' })];
    try {
      const file = join(dir, 'pool.yaml');
      const pool = (names: string[]) =>
        `providers:\n  anthropic:\n    upstreams:\n${names.map((n) => `      - { name: ${n}, baseUrl: '${(n === 'a' ? a : b).url}', apiKey: sk-${n} }\n`).join('')}` +
        `plugins:\n  - use: '@tollgate/storage'\n    config: { dataDir: '${join(dir, 'pool-data')}' }\n  - use: '@tollgate/plugin-auth'\n    config: { masterKey: sk-master }\n`;
      await writeFile(file, pool(['a']));
      const c = capture();
      const running = runCli(['--config', file, '--port', '0', '--host', '127.0.0.1', '--grace-ms', '0'], c.io);
      const url = (await c.waitForErr('tollgate listening on ')).slice('tollgate listening on '.length);
      const names = async () => {
        const res = await rawRequest(`${url}/health/upstreams`, { headers: { authorization: 'Bearer sk-master' } });
        return (JSON.parse(res.body.toString()) as { providers: { anthropic: { name: string }[] } }).providers.anthropic.map((u) => u.name);
      };
      expect(await names()).toEqual(['a']);
      expect((await rawRequest(`${url}/health/upstreams`)).status).toBe(401);
      await writeFile(file, pool(['a', 'b']));
      c.signals.emit('SIGHUP', 'SIGHUP');
      await c.waitForErr('tollgate: SIGHUP: upstreams reloaded');
      expect(await names()).toEqual(['a', 'b']);
      await writeFile(file, 'providers: { anthropic: { upstreams: [] } }\n');
      c.signals.emit('SIGHUP', 'SIGHUP');
      expect(await c.waitForErr('tollgate: SIGHUP: upstreams not reloaded')).toContain('must NOT have fewer than 1 items');
      expect(await names()).toEqual(['a', 'b']);
      c.signals.emit('SIGTERM', 'SIGTERM');
      expect(await running).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
