import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { createGateway, type Gateway } from '@tollgate/core';
import { createMockUpstream, rawRequest, type MockUpstream } from '@tollgate/testing';
import { expect } from 'vitest';
import { BUNDLED_MODULES } from '../src/cli-config.js';
import type { KeyView } from '../src/key-format.js';
import { runCliCaptured, type CliRun } from './cli-run.js';

export const MASTER_KEY = 'sk-master-test';

export interface KeysHarness {
  mock: MockUpstream;
  gw: Gateway;
  /** The gateway's base URL (the admin API lives here). */
  url: string;
  /** Every line any CLI run printed, to check for the master key. */
  printed: string[];
  /** `tollgate keys …` in-process; env TOLLGATE_URL and TOLLGATE_MASTER_KEY point at the gateway unless `env` is given. */
  keys(args: string[], env?: Record<string, string>): Promise<CliRun>;
  /** Creates a key through the CLI (`--json`) and returns the API's answer. */
  create(...args: string[]): Promise<KeyView & { key: string }>;
  /** The admin API asked directly, to compare the CLI's output against. */
  api<T>(path: string): Promise<T>;
  /** A /v1/messages request through the gateway with `key`. */
  ask(key: string, model?: string): Promise<{ status: number; error?: { type: string; message: string } }>;
  /** Another gateway on the same mock upstream, with or without a master key. */
  startGateway(masterKey: string | undefined): Promise<Gateway>;
  close(): Promise<void>;
}

/**
 * A real gateway on port 0 in front of the mock upstream, configured as the brief for
 * `tollgate keys` says: storage in a fresh SQLite file under `dir`, auth with a master key.
 */
export async function startKeysHarness(dir: string): Promise<KeysHarness> {
  const mock = await createMockUpstream();
  const startGateway = async (masterKey: string | undefined): Promise<Gateway> => {
    const db = await mkdtemp(join(dir, 'db-'));
    const g = await createGateway({
      config: {
        server: { host: '127.0.0.1', port: 0 },
        providers: { anthropic: { baseUrl: mock.url, apiKey: 'up' } },
        plugins: [
          { use: '@tollgate/storage', config: { url: `file:${db}/t.db` } },
          { use: '@tollgate/plugin-auth', config: masterKey ? { masterKey } : {} },
        ],
      },
      modules: { ...BUNDLED_MODULES },
      env: {},
      logDestination: { write: () => undefined },
    });
    await g.listen();
    return g;
  };
  let gw: Gateway;
  try {
    gw = await startGateway(MASTER_KEY);
  } catch (err) {
    await mock.close();
    throw err;
  }
  const url = gw.url;
  const printed: string[] = [];

  const keys = async (args: string[], env: Record<string, string> = { TOLLGATE_URL: url, TOLLGATE_MASTER_KEY: MASTER_KEY }): Promise<CliRun> => {
    const run = await runCliCaptured(['keys', ...args], env);
    printed.push(...run.out, ...run.err);
    return run;
  };

  return {
    mock,
    gw,
    url,
    printed,
    keys,
    async create(...args) {
      const r = await keys(['create', '--json', ...args]);
      expect(r).toMatchObject({ code: 0, err: [] });
      return JSON.parse(r.out.join('\n')) as KeyView & { key: string };
    },
    async api<T>(path: string) {
      const res = await rawRequest(`${url}${path}`, { headers: { 'x-api-key': MASTER_KEY } });
      expect(res.status).toBe(200);
      return JSON.parse(res.body.toString()) as T;
    },
    async ask(key, model = 'claude-sonnet-5-5') {
      const body = JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] });
      const headers = { 'content-type': 'application/json', 'x-api-key': key };
      const res = await rawRequest(`${url}/anthropic/v1/messages`, { method: 'POST', headers, body });
      return { status: res.status, error: res.status === 200 ? undefined : JSON.parse(res.body.toString()).error };
    },
    startGateway,
    async close() {
      await gw.close({ graceMs: 0 });
      await mock.close();
    },
  };
}

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** How the API shows a secret: `sk-...` and its last four characters. */
export const keyName = (key: string): string => `sk-...${key.slice(-4)}`;
