import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type Gateway } from '@tollgate/core';
import { createMockUpstream, messageJson, rawRequest, until, type MockUpstream } from '@tollgate/testing';

export const MASTER_KEY = 'sk-master-console-test';
export const MODEL = 'console-test-model';

/** $3 / MTok in, $15 / MTok out: 1000 in + 500 out cost exactly $0.0105. */
export const PRICE = { input: 3, output: 15, cache_write_5m: 3.75, cache_write_1h: 6, cache_read: 0.3, batch_input: 1.5, batch_output: 7.5 };
export const USAGE = { input_tokens: 1000, output_tokens: 500 };

export interface ConsoleHarness {
  mock: MockUpstream;
  gw: Gateway;
  url: string;
  /** The gateway's SQLite database, for createStorage (to write rows straight into the ledger). */
  database: { url: string; dataDir: string };
  /** The admin API with the master key. */
  admin<T>(path: string, body?: unknown): Promise<T>;
  /** One /v1/messages call with `key`; returns the status. */
  ask(key: string, extra?: Record<string, unknown>): Promise<number>;
  /** Waits until the ledger holds `n` rows (rows are written in batches). */
  ledgerRows(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A real gateway (SQLite, auth with a master key, cost, console) in front of the mock upstream. */
export async function startConsoleHarness(consoleConfig: Record<string, unknown> = {}): Promise<ConsoleHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-console-'));
  const mock = await createMockUpstream();
  mock.route('POST', '/v1/messages', (req) => ({ json: messageJson({ model: String((req.json() as { model: string }).model), usage: USAGE }) }));
  const gw = await createGateway({
    config: {
      server: { host: '127.0.0.1', port: 0 },
      providers: { anthropic: { baseUrl: mock.url, apiKey: 'up' } },
      plugins: [
        { use: '@tollgate/storage', config: { url: `file:${dir}/t.db` } },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
        { use: '@tollgate/plugin-cost', config: { prices: { models: { [MODEL]: { prices: [PRICE] } } }, ledger: { flushIntervalMs: 20 } } },
        { use: '@tollgate/plugin-console', config: consoleConfig },
      ],
    },
    modules: {
      '@tollgate/storage': async () => (await import('@tollgate/storage')).default,
      '@tollgate/plugin-auth': async () => (await import('@tollgate/plugin-auth')).default,
      '@tollgate/plugin-cost': async () => (await import('@tollgate/plugin-cost')).default,
      '@tollgate/plugin-console': async () => (await import('../src/index.js')).default,
    },
    env: {},
    logDestination: { write: () => undefined },
  });
  await gw.listen();
  const url = gw.url;
  const admin = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await rawRequest(`${url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'x-api-key': MASTER_KEY, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.body.toString()}`);
    return JSON.parse(res.body.toString()) as T;
  };
  return {
    mock,
    gw,
    url,
    database: { url: `file:${dir}/t.db`, dataDir: dir },
    admin,
    async ask(key, extra = {}) {
      const body = JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }], ...extra });
      const res = await rawRequest(`${url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' }, body });
      return res.status;
    },
    async ledgerRows(n) {
      await until(async () => (await admin<{ total: number }>('/spend/logs?page=1&page_size=1')).total >= n, 10_000);
    },
    async close() {
      await gw.close({ graceMs: 0 });
      await mock.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
