import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CliIo, SignalSource } from './io.js';
import { adminTarget } from './keys-command.js';
import { runCli } from './run.js';
import { UsageError } from './usage-error.js';

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('adminTarget', () => {
  it('takes the flags first, then TOLLGATE_URL and TOLLGATE_MASTER_KEY, then LITELLM_MASTER_KEY', () => {
    const env = { TOLLGATE_URL: 'http://env:4000', TOLLGATE_MASTER_KEY: 'sk-tg', LITELLM_MASTER_KEY: 'sk-litellm' };
    expect(adminTarget({ url: 'http://flag:1', masterKey: 'sk-flag' }, env)).toEqual({ url: 'http://flag:1', masterKey: 'sk-flag' });
    expect(adminTarget({}, env)).toEqual({ url: 'http://env:4000', masterKey: 'sk-tg' });
    expect(adminTarget({}, { LITELLM_MASTER_KEY: 'sk-litellm', TOLLGATE_MASTER_KEY: '' })).toEqual({ url: 'http://localhost:4000', masterKey: 'sk-litellm' });
    expect(adminTarget({}, { TOLLGATE_URL: '', TOLLGATE_MASTER_KEY: 'k' }, 500)).toEqual({ url: 'http://localhost:4000', masterKey: 'k', timeoutMs: 500 });
  });

  it('refuses to run without a master key, and never echoes one', () => {
    expect(usageError(() => adminTarget({}, {}))).toBe('keys commands need the master key: set TOLLGATE_MASTER_KEY (or pass --master-key)');
    const message = usageError(() => adminTarget({ url: 'http://admin:sk-in-url@gw:4000' }, { TOLLGATE_MASTER_KEY: 'k' }));
    expect(message).toBe('the gateway URL must not hold credentials; pass the master key with --master-key or TOLLGATE_MASTER_KEY');
  });

  it('rejects URLs that are not http(s) gateway addresses', () => {
    const env = { TOLLGATE_MASTER_KEY: 'k' };
    expect(usageError(() => adminTarget({ url: 'localhost:4000' }, env))).toBe('the gateway URL must be http(s)://HOST:PORT, got "localhost:4000"');
    expect(usageError(() => adminTarget({ url: 'gw' }, env))).toBe('the gateway URL must be http(s)://HOST:PORT, got "gw"');
    expect(usageError(() => adminTarget({}, { ...env, TOLLGATE_URL: 'ftp://gw' }))).toBe('the gateway URL must be http(s)://HOST:PORT, got "ftp://gw"');
    expect(usageError(() => adminTarget({ url: 'http://gw:4000/?x=1' }, env))).toBe('the gateway URL must be http(s)://HOST:PORT, got "http://gw:4000/?x=1"');
  });
});

describe('runKeys', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  async function answering(body: unknown): Promise<string> {
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function run(argv: string[], url: string) {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = {
      env: { TOLLGATE_URL: url, TOLLGATE_MASTER_KEY: 'sk-m' },
      out: (l) => void out.push(l),
      err: (l) => void err.push(l),
      signals: new EventEmitter() as SignalSource,
      exitNow: () => undefined,
    };
    return { code: await runCli(argv, io), out, err };
  }

  it('exits 1 on an answer it cannot show as text, and --json still prints it', async () => {
    const url = await answering({ keys: ['5a3f'], total_count: 1, current_page: 1, total_pages: 1 });
    expect(await run(['keys', 'list'], url)).toEqual({ code: 1, out: [], err: [`tollgate: unexpected answer to GET ${url}/key/list; try --json to see it`] });
    const json = await run(['keys', 'list', '--json'], url);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out.join('\n'))).toEqual({ keys: ['5a3f'], total_count: 1, current_page: 1, total_pages: 1 });
    expect(await run(['keys', 'info', 'sk-1'], url)).toEqual({ code: 1, out: [], err: [`tollgate: unexpected answer to GET ${url}/key/info; try --json to see it`] });
    expect(await run(['keys', 'delete', 'sk-1'], url)).toEqual({ code: 1, out: [], err: [`tollgate: unexpected answer to POST ${url}/key/delete; try --json to see it`] });
  });
});
