import type { MockUpstream } from '@tollgate/testing';
import { createGateway, type CompletionRecord, type Gateway, type PluginInput } from '../src/index.js';

export const UPSTREAM_KEY = 'sk-ant-upstream-secret-0123456789';

export interface TestGateway {
  gw: Gateway;
  /** http://127.0.0.1:PORT */
  url: string;
  /** url + '/anthropic', the SDK's baseURL. */
  baseURL: string;
  records: CompletionRecord[];
  /** Every log line the gateway wrote. */
  logs: string[];
  /** Resolves once `n` request:complete records exist (rejects after 5 s). */
  waitForRecords(n: number): Promise<CompletionRecord[]>;
  close(): Promise<void>;
}

/** Starts a real gateway on 127.0.0.1:0 in front of the mock upstream. */
export async function startGateway(options: {
  upstream: MockUpstream;
  config?: Record<string, unknown>;
  plugins?: PluginInput[];
  env?: Record<string, string | undefined>;
}): Promise<TestGateway> {
  const logs: string[] = [];
  const records: CompletionRecord[] = [];
  const { providers, server, ...rest } = (options.config ?? {}) as { providers?: { anthropic?: object }; server?: object };
  const gw = await createGateway({
    config: {
      ...rest,
      server: { host: '127.0.0.1', port: 0, ...server },
      providers: { anthropic: { baseUrl: options.upstream.url, apiKey: UPSTREAM_KEY, ...providers?.anthropic } },
    },
    plugins: options.plugins,
    env: options.env ?? {},
    logDestination: { write: (line: string) => void logs.push(line) },
  });
  const waiters = new Set<() => void>();
  gw.events.on('request:complete', (r) => {
    records.push(r);
    for (const w of waiters) w();
  });
  const { url } = await gw.listen();
  return {
    gw,
    url,
    baseURL: `${url}/anthropic`,
    records,
    logs,
    waitForRecords(n) {
      if (records.length >= n) return Promise.resolve(records);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${n} request:complete records, got ${records.length}`));
        }, 5000);
        const check = () => {
          if (records.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(records);
        };
        waiters.add(check);
      });
    },
    close: () => gw.close({ graceMs: 1000 }),
  };
}
