import type { CompletionRecord, Gateway, PluginInput } from '@tollgate/core';
import { startTestGateway } from '@tollgate/core/testing';
import authPlugin from '@tollgate/plugin-auth';
import storagePlugin from '@tollgate/storage';
import type { TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, until, type MockUpstream } from '@tollgate/testing';
import { costPlugin } from '../src/plugin.js';

export const MASTER_KEY = 'sk-tg-master-cost-tests-5d1f';
export const UPSTREAM_KEY = 'sk-ant-upstream-cost-tests';

export interface CostHarness {
  gw: Gateway;
  mock: MockUpstream;
  url: string;
  baseURL: string;
  completed: CompletionRecord[];
  logs: string[];
  /** POSTs/GETs the admin API with the master key; returns status and parsed body. */
  admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /**
   * Resolves once `records` requests have completed on this gateway (their rows queued) and
   * every queued row is committed: `/spend/queue` counts rows being written as queued, so
   * `queued === 0` (and nothing spooled) means in the database, not merely taken by the writer.
   */
  committed(records: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real gateway with storage, auth (master key) and cost in front of the mock upstream.
 * `db` is the test database to use (the caller drops it); `costConfig` the plugin's options;
 * `mock` an upstream that outlives this gateway (the caller closes it), as for a restart.
 */
export async function startCostHarness(options: {
  db: TestDatabase;
  costConfig?: Record<string, unknown>;
  dataDir?: string;
  plugins?: PluginInput[];
  mock?: MockUpstream;
  /** Replaces the providers section (e.g. a pool of upstreams). */
  providers?: Record<string, unknown>;
  /** Added to the auth plugin's options (e.g. sharedLimits). */
  authConfig?: Record<string, unknown>;
}): Promise<CostHarness> {
  const mock = options.mock ?? (await createMockUpstream());
  const t = await startTestGateway({
    upstream: mock,
    config: {
      providers: options.providers ?? { anthropic: { apiKey: UPSTREAM_KEY } },
      plugins: [
        { use: '@tollgate/storage', config: options.db.options },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY, ...options.authConfig } },
        // The batch settlement job is off unless a test turns it on: it would book batches behind other tests' backs.
        { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 20 }, batches: { settleEveryMs: 0 }, ...options.costConfig } },
      ],
    },
    plugins: options.plugins,
    modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin },
    env: { TOLLGATE_DATA_DIR: options.dataDir ?? (options.db.options as { dataDir?: string }).dataDir ?? '/tmp/tollgate-cost-tests' },
    adminKey: MASTER_KEY,
    graceMs: 0,
    cleanup: [() => (options.mock ? undefined : mock.close())],
  });
  const committed = async (records: number) => {
    await t.waitForRecords(records);
    await until(async () => {
      const { queued, spooled } = (await t.admin('GET', '/spend/queue')).body;
      return queued === 0 && spooled === 0;
    });
  };
  return { gw: t.gw, mock, url: t.url, baseURL: t.baseURL, completed: t.records, logs: t.logs, admin: t.admin, committed, close: t.close };
}

/** Re-exported for the tests that import it from here. */
export { until };
