import type { CompletionRecord, Gateway, PluginInput } from '@tollgate/core';
import { startTestGateway, type TestGateway } from '@tollgate/core/testing';
import storagePlugin from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, type MockUpstream } from '@tollgate/testing';
import authPlugin from '../src/index.js';

export const UPSTREAM_KEY = 'sk-ant-upstream-real-0c5f2a';
export const MASTER_KEY = 'sk-tg-master-9b71e4d2c8';

export interface Harness {
  gw: Gateway;
  mock: MockUpstream;
  /** Gateway base URL + /anthropic, what an SDK takes as baseURL. */
  baseURL: string;
  /** Every log line the gateway wrote, from boot on. */
  logs: string[];
  /** Every `request:complete` record. */
  completed: CompletionRecord[];
  /** The gateway URL (admin API lives here). */
  url: string;
  waitForRecords: TestGateway['waitForRecords'];
  close(): Promise<void>;
}

export interface HarnessOptions {
  authConfig?: Record<string, unknown>;
  env?: Record<string, string>;
  /** The database to use (default: a fresh SQLite file); not dropped by close(). */
  db?: TestDatabase;
  /** More plugins given in code (e.g. a spend-totals stand-in). */
  plugins?: PluginInput[];
}

/**
 * A real gateway on port 0 in front of the mock upstream, with the auth plugin loaded by
 * package name from the config, as `tollgate` does. Logs at trace so secrets would show.
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const mock = await createMockUpstream();
  const ownDb = options.db ? undefined : await createTestDatabase('sqlite');
  const db = options.db ?? ownDb!;
  const t = await startTestGateway({
    upstream: mock,
    config: {
      log: { level: 'trace' },
      providers: { anthropic: { apiKey: UPSTREAM_KEY } },
      plugins: [
        { use: '@tollgate/storage', config: db.options },
        { use: '@tollgate/plugin-auth', config: options.authConfig ?? {} },
      ],
    },
    plugins: options.plugins,
    modules: { '@tollgate/plugin-auth': authPlugin, '@tollgate/storage': storagePlugin },
    env: options.env,
    graceMs: 0,
    cleanup: [() => mock.close(), () => ownDb?.drop()],
  });
  return { gw: t.gw, mock, url: t.url, baseURL: t.baseURL, logs: t.logs, completed: t.records, waitForRecords: t.waitForRecords, close: t.close };
}

/** Resolves once `n` requests have completed (the record is emitted after the response ends). */
export async function waitForCompleted(h: Harness, n: number, timeoutMs = 5000): Promise<CompletionRecord[]> {
  return [...(await h.waitForRecords(n, timeoutMs))];
}
