import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MockUpstream } from '@tollgate/testing';
import { createGateway, type CompletionRecord, type Gateway, type GatewayConfig, type PluginDefinition, type PluginInput } from '@tollgate/core';

/** The examples/ folder. */
export const EXAMPLES = fileURLToPath(new URL('..', import.meta.url));
export const UPSTREAM_KEY = 'sk-ant-upstream-example-0123456789';
export const MASTER_KEY = 'sk-tg-master-example-0123456789';

export interface ExampleGateway {
  gw: Gateway;
  /** http://127.0.0.1:PORT */
  url: string;
  records: CompletionRecord[];
  /** Every log line, parsed. */
  logs: Record<string, unknown>[];
  /** Resolves once `n` request:complete records exist (rejects after 5 s). */
  waitForRecords(n: number): Promise<CompletionRecord[]>;
  close(): Promise<void>;
}

/**
 * A real gateway on 127.0.0.1:0. Without `config`, it points at the mock upstream, requires
 * MASTER_KEY and loads the real auth plugin given in `plugins`.
 */
export async function startGateway(options: {
  upstream: MockUpstream;
  config?: GatewayConfig;
  plugins?: PluginInput[];
  modules?: Record<string, PluginDefinition>;
  env?: Record<string, string | undefined>;
}): Promise<ExampleGateway> {
  const logs: Record<string, unknown>[] = [];
  const records: CompletionRecord[] = [];
  const gw = await createGateway({
    config: options.config ?? {
      server: { host: '127.0.0.1', port: 0 },
      providers: { anthropic: { baseUrl: options.upstream.url, apiKey: UPSTREAM_KEY } },
    },
    plugins: options.plugins,
    modules: options.modules,
    env: options.env ?? { TOLLGATE_MASTER_KEY: MASTER_KEY },
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
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

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a shell script asynchronously (the gateway under test lives in this process). */
export function runScript(script: string, env: Record<string, string>): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile('bash', [script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
