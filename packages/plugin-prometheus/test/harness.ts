import type { CompletionRecord, Gateway, PluginInput } from '@tollgate/core';
import { startTestGateway } from '@tollgate/core/testing';
import authPlugin from '@tollgate/plugin-auth';
import costPlugin from '@tollgate/plugin-cost';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, until, type MockUpstream } from '@tollgate/testing';
import { prometheusPlugin } from '../src/plugin.js';
import { parseExposition, type Exposition } from './exposition.js';

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
  const accounting = db
    ? [
        { use: '@tollgate/storage', config: db.options },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
        { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 10 } } },
      ]
    : [];
  const t = await startTestGateway({
    upstream: mock,
    config: {
      log: { accessLog: false },
      providers: { anthropic: { apiKey: UPSTREAM_KEY } },
      plugins: [...accounting, { use: '@tollgate/plugin-prometheus', config: { processMetrics: false, ...options.prometheus } }],
    },
    plugins: options.plugins,
    modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin, '@tollgate/plugin-prometheus': prometheusPlugin },
    env: { TOLLGATE_DATA_DIR: db ? (db.options as { dataDir?: string }).dataDir! : '/tmp/tollgate-prometheus-tests', ...options.env },
    adminKey: MASTER_KEY,
    graceMs: 0,
    cleanup: [() => mock.close(), () => db?.drop()],
  });
  return {
    gw: t.gw,
    mock,
    url: t.url,
    baseURL: t.baseURL,
    db,
    completed: t.records,
    logs: t.logs,
    async scrape(headers = options.bare ? {} : { authorization: `Bearer ${MASTER_KEY}` }) {
      const res = await fetch(`${t.url}/metrics`, { headers });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`);
      return parseExposition(text);
    },
    admin: t.admin,
    completedAtLeast: async (n) => void (await t.waitForRecords(n)),
    close: t.close,
  };
}

/** Re-exported for the tests that import it from here. */
export { until };
