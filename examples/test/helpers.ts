import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MockUpstream } from '@tollgate/testing';
import type { CompletionRecord, Gateway, GatewayConfig, PluginDefinition, PluginInput } from '@tollgate/core';
import { startTestGateway } from '@tollgate/core/testing';

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
  readonly logs: Record<string, unknown>[];
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
  const t = await startTestGateway({
    upstream: options.upstream,
    config: options.config ?? { providers: { anthropic: { apiKey: UPSTREAM_KEY } } },
    plugins: options.plugins,
    modules: options.modules,
    env: options.env ?? { TOLLGATE_MASTER_KEY: MASTER_KEY },
  });
  return {
    gw: t.gw,
    url: t.url,
    records: t.records,
    get logs() {
      return t.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    waitForRecords: (n) => t.waitForRecords(n),
    close: t.close,
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
