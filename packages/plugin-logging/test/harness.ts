import { SINK_STATS, type CompletionRecord, type Gateway, type GatewayConfig, type SinkStats } from '@tollgate/core';
import { startTestGateway } from '@tollgate/core/testing';
import authPlugin from '@tollgate/plugin-auth';
import { costPlugin } from '@tollgate/plugin-cost';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, type MockUpstream } from '@tollgate/testing';
import { loggingPlugin } from '../src/index.js';

export const MASTER_KEY = 'sk-tg-master-logging-tests-9c2e';
export const UPSTREAM_KEY = 'sk-ant-upstream-logging-tests';

export interface Harness {
  gw: Gateway;
  mock: MockUpstream;
  url: string;
  baseURL: string;
  completed: CompletionRecord[];
  /** Every log line the gateway wrote, parsed. */
  readonly logs: Record<string, any>[];
  /** The logging plugin's counters (SINK_STATS), when it is loaded. */
  stats(): SinkStats[];
  stat(name: string): SinkStats;
  /** POSTs the admin API with the master key (only with `accounting`). */
  admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * A real gateway on 127.0.0.1:0 in front of the mock upstream, with the logging plugin given
 * `logging` (omit it for a gateway without the plugin). `accounting` adds storage (a temporary
 * SQLite), auth (master key) and cost, so spans carry keys and exact costs. `config` builds the
 * gateway's config (e.g. with `loadConfig` from a YAML file) given the mock upstream's URL.
 */
export async function startHarness(
  options: { logging?: Record<string, unknown>; accounting?: boolean; config?: (upstreamUrl: string) => Promise<GatewayConfig> } = {},
): Promise<Harness> {
  const mock = await createMockUpstream();
  const db: TestDatabase | undefined = options.accounting ? await createTestDatabase('sqlite') : undefined;
  const plugins = [];
  if (db) {
    plugins.push({ plugin: storagePlugin, config: { ...db.options } }, { plugin: authPlugin, config: { masterKey: MASTER_KEY } }, { plugin: costPlugin, config: { ledger: { flushIntervalMs: 20 } } });
  }
  if (options.logging) plugins.push({ plugin: loggingPlugin, config: options.logging });
  const t = await startTestGateway({
    upstream: mock,
    config: options.config ? await options.config(mock.url) : { providers: { anthropic: { apiKey: UPSTREAM_KEY } } },
    plugins,
    modules: { '@tollgate/plugin-logging': loggingPlugin },
    env: db ? { TOLLGATE_DATA_DIR: (db.options as { dataDir?: string }).dataDir } : {},
    adminKey: MASTER_KEY,
    cleanup: [() => mock.close(), () => db?.drop()],
  });
  const stats = () => (t.gw.container.isRegistered(SINK_STATS, true) ? t.gw.container.resolve(SINK_STATS).sinks() : []);
  return {
    gw: t.gw,
    mock,
    url: t.url,
    baseURL: t.baseURL,
    completed: t.records,
    get logs() {
      return t.logs.map((line) => JSON.parse(line) as Record<string, any>);
    },
    stats,
    stat(name) {
      const s = stats().find((x) => x.name === name);
      if (!s) throw new Error(`no sink named ${name}`);
      return s;
    },
    admin: t.admin,
    close: t.close,
  };
}

/** POSTs a Messages request with plain fetch; returns status and parsed body (or SSE text). */
export async function postMessage(baseURL: string, body: Record<string, unknown>, key = MASTER_KEY): Promise<{ status: number; body: any; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${baseURL}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text, ms };
}
