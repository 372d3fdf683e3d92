import { createGateway, type CompletionRecord, type Gateway } from '@tollgate/core';
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
  close(): Promise<void>;
}

/**
 * A real gateway on port 0 in front of the mock upstream, with the auth plugin loaded by
 * package name from the config, as `tollgate` does. Logs at trace so secrets would show.
 */
export async function startHarness(options: { authConfig?: Record<string, unknown>; env?: Record<string, string> } = {}): Promise<Harness> {
  const mock = await createMockUpstream();
  const logs: string[] = [];
  const completed: CompletionRecord[] = [];
  let gw: Gateway;
  try {
    gw = await createGateway({
      config: {
        server: { host: '127.0.0.1', port: 0 },
        log: { level: 'trace' },
        providers: { anthropic: { baseUrl: mock.url, apiKey: UPSTREAM_KEY } },
        plugins: [{ use: '@tollgate/plugin-auth', config: options.authConfig ?? {} }],
      },
      modules: { '@tollgate/plugin-auth': authPlugin },
      env: options.env ?? {},
      logDestination: { write: (line: string) => void logs.push(line) },
    });
  } catch (err) {
    await mock.close();
    throw err;
  }
  gw.events.on('request:complete', (r) => void completed.push(r));
  const { url } = await gw.listen();
  return {
    gw,
    mock,
    baseURL: `${url}/anthropic`,
    logs,
    completed,
    async close() {
      await gw.close({ graceMs: 0 });
      await mock.close();
    },
  };
}

/** Resolves once `n` requests have completed (the record is emitted after the response ends). */
export function waitForCompleted(h: Harness, n: number, timeoutMs = 5000): Promise<CompletionRecord[]> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (h.completed.length < n) return false;
      h.gw.events.off('request:complete', check);
      clearTimeout(timer);
      resolve([...h.completed]);
      return true;
    };
    const timer = setTimeout(() => {
      h.gw.events.off('request:complete', check);
      reject(new Error(`expected ${n} completed request(s), got ${h.completed.length}`));
    }, timeoutMs);
    if (!check()) h.gw.events.on('request:complete', check);
  });
}
