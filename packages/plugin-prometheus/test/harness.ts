import { createGateway, type CompletionRecord, type Gateway, type PluginInput } from '@tollgate/core';
import authPlugin from '@tollgate/plugin-auth';
import costPlugin from '@tollgate/plugin-cost';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, type MockUpstream } from '@tollgate/testing';
import { prometheusPlugin } from '../src/plugin.js';
import { parseExposition, type Exposition } from './exposition.js';
import { until } from '@tollgate/testing';

export const MASTER_KEY = 'sk-tg-master-prometheus-tests-7c2a';
export const UPSTREAM_KEY = 'sk-ant-upstream-prometheus-tests';

export interface Harness {
  gw: Gateway;
  mock: MockUpstream;
  url: string;
  baseURL: string;
  db?: TestDatabase;
  completed: CompletionRecord[];
  logs: string[];
  /** GET /metrics, parsed (throws unless 200). */
  scrape(headers?: Record<string, string>): Promise<Exposition>;
  admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Resolves once `n` request:complete records exist (rejects after 5 s). */
  completedAtLeast(n: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real gateway in front of the mock upstream, with the prometheus plugin and, unless
 * `bare`, storage (embedded SQLite), auth (master key) and cost.
 */
export async function startHarness(options: { prometheus?: Record<string, unknown>; bare?: boolean; plugins?: PluginInput[]; env?: Record<string, string> } = {}): Promise<Harness> {
  const mock = await createMockUpstream();
  const db = options.bare ? undefined : await createTestDatabase('sqlite');
  const logs: string[] = [];
  const completed: CompletionRecord[] = [];
  const gw = await createGateway({
    config: {
      server: { host: '127.0.0.1', port: 0 },
      log: { accessLog: false },
      providers: { anthropic: { baseUrl: mock.url, apiKey: UPSTREAM_KEY } },
      plugins: [
        ...(db
          ? [
              { use: '@tollgate/storage', config: db.options },
              { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
              { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 10 } } },
            ]
          : []),
        { use: '@tollgate/plugin-prometheus', config: { processMetrics: false, ...options.prometheus } },
      ],
    },
    plugins: options.plugins,
    modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin, '@tollgate/plugin-prometheus': prometheusPlugin },
    env: { TOLLGATE_DATA_DIR: db ? (db.options as { dataDir?: string }).dataDir! : '/tmp/tollgate-prometheus-tests', ...options.env },
    logDestination: { write: (line: string) => void logs.push(line) },
  }).catch(async (err: unknown) => {
    await mock.close();
    await db?.drop();
    throw err;
  });
  gw.events.on('request:complete', (r) => void completed.push(r));
  const { url } = await gw.listen();
  return {
    gw,
    mock,
    url,
    baseURL: `${url}/anthropic`,
    db,
    completed,
    logs,
    async scrape(headers = {}) {
      const res = await fetch(`${url}/metrics`, { headers });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`);
      return parseExposition(text);
    },
    async admin(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    },
    completedAtLeast: (n) => until(() => completed.length >= n),
    async close() {
      await gw.close({ graceMs: 0 });
      await mock.close();
      await db?.drop();
    },
  };
}

/** Re-exported for the tests that import it from here. */
export { until };
