import { isLoadedConfig } from './config.js';
import type { GatewayConfig } from './config-schema.js';
import type { CompletionRecord } from './events.js';
import { createGateway, type Gateway } from './gateway.js';
import type { PluginInput, PluginModule } from './plugin-setup.js';

/** The upstream key a test gateway sends unless its config names another. */
export const TEST_UPSTREAM_KEY = 'sk-ant-upstream-test-0123456789';

export interface TestGatewayOptions {
  /** Where requests go: a mock upstream (`createMockUpstream()` from @tollgate/testing). */
  upstream: { url: string };
  /**
   * The config as in YAML; `providers.anthropic` defaults to `upstream` with TEST_UPSTREAM_KEY.
   * A config already loaded (from `loadConfig`) is used as it is. The gateway always listens
   * on 127.0.0.1, on a free port.
   */
  config?: Record<string, unknown> | GatewayConfig;
  /** Plugins given in code, and modules that `use:` entries resolve to. */
  plugins?: PluginInput[];
  modules?: Record<string, PluginModule>;
  /** The gateway's environment (default: empty, so the machine's own never leaks in). */
  env?: Record<string, string | undefined>;
  /** The key `admin()` sends (the master key of the config under test). */
  adminKey?: string;
  /** How long `close()` lets requests in flight finish (default 1000 ms). */
  graceMs?: number;
  /** Run by `close()` once the gateway has stopped, and when it fails to start: the mock upstream, a test database. */
  cleanup?: (() => unknown)[];
}

export interface TestGateway {
  gw: Gateway;
  /** http://127.0.0.1:PORT */
  url: string;
  /** url + '/anthropic', what an SDK takes as baseURL. */
  baseURL: string;
  /** Every `request:complete` record, in order. */
  records: CompletionRecord[];
  /** Every line the gateway logged, from boot on (JSON text). */
  logs: string[];
  /** Resolves once `n` records exist; rejects after `timeoutMs`. */
  waitForRecords(n: number, timeoutMs?: number): Promise<CompletionRecord[]>;
  /** Calls the gateway's own API with `adminKey`; returns the status and the parsed body. */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * A real gateway on 127.0.0.1 in front of a test upstream, for testing a plugin the way it
 * runs: HTTP in, the pipeline, the upstream call, `request:complete` out.
 *
 * @example
 * const mock = await createMockUpstream();
 * const t = await startTestGateway({ upstream: mock, plugins: [myPlugin], cleanup: [() => mock.close()] });
 * await fetch(`${t.baseURL}/v1/messages`, { method: 'POST', headers, body });
 * await t.waitForRecords(1);
 * await t.close();
 */
export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const logs: string[] = [];
  const records: CompletionRecord[] = [];
  const cleanup = async () => {
    for (const step of options.cleanup ?? []) await step();
  };
  let gw: Gateway;
  try {
    gw = await createGateway({
      config: withTestDefaults(options.config, options.upstream.url),
      plugins: options.plugins,
      modules: options.modules,
      env: options.env ?? {},
      logDestination: { write: (line: string) => void logs.push(line) },
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const waiters = new Set<() => void>();
  gw.events.on('request:complete', (r) => {
    records.push(r);
    for (const w of waiters) w();
  });
  const { url } = await gw.listen({ host: '127.0.0.1', port: 0 });
  return {
    gw,
    url,
    baseURL: `${url}/anthropic`,
    records,
    logs,
    waitForRecords(n, timeoutMs = 5000) {
      if (records.length >= n) return Promise.resolve(records);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${n} request:complete records, got ${records.length}`));
        }, timeoutMs);
        const check = () => {
          if (records.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(records);
        };
        waiters.add(check);
      });
    },
    async admin(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(options.adminKey ? { 'x-api-key': options.adminKey } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    },
    async close() {
      await gw.close({ graceMs: options.graceMs ?? 1000 });
      await cleanup();
    },
  };
}

function withTestDefaults(config: TestGatewayOptions['config'], upstreamUrl: string): Record<string, unknown> | GatewayConfig {
  if (isLoadedConfig(config)) return config;
  const { providers, ...rest } = (config ?? {}) as { providers?: { anthropic?: object } };
  return {
    ...rest,
    providers: { ...providers, anthropic: { baseUrl: upstreamUrl, apiKey: TEST_UPSTREAM_KEY, ...providers?.anthropic } },
  };
}
