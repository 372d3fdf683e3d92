import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMockUpstream, rawRequest, type MockUpstream } from '@tollgate/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureBuilt, killAll, spawnCli, type CliProcess } from './cli-process.js';

const MASTER_KEY = 'sk-tg-master-data-dir-5c1e';
const UPSTREAM_KEY = 'sk-ant-upstream-data-dir-77b0';
const LISTENING = /^tollgate listening on (http:\/\/127\.0\.0\.1:\d+)$/;
const BODY = JSON.stringify({ model: 'claude-sonnet-5-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] });

let mock: MockUpstream;
let dir: string;
let cwd: string;

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'tollgate-data-dir-'));
  cwd = join(dir, 'cwd');
  await mkdir(cwd);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  mock = await createMockUpstream();
});
afterEach(async () => {
  await killAll();
  await mock.close();
  expect(await readdir(cwd)).toEqual([]);
});

/** `tollgate --data-dir DIR` on a free port; env TOLLGATE_DATA_DIR points elsewhere, and must lose. */
async function startGateway(dataDir: string, decoyDir: string): Promise<{ cli: CliProcess; url: string }> {
  const env = { ANTHROPIC_BASE_URL: mock.url, ANTHROPIC_API_KEY: UPSTREAM_KEY, TOLLGATE_MASTER_KEY: MASTER_KEY, TOLLGATE_DATA_DIR: decoyDir };
  const cli = spawnCli(['start', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], env, cwd);
  const [, url] = await cli.waitForStderr(LISTENING);
  return { cli, url };
}

async function stop(cli: CliProcess): Promise<void> {
  cli.child.kill('SIGTERM');
  expect(await cli.exited).toEqual({ code: 0, signal: null });
}

function ask(url: string, key: string) {
  return rawRequest(`${url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: BODY });
}

describe('tollgate start --data-dir', () => {
  it('keeps the embedded database in that folder, and virtual keys survive a restart', async () => {
    const dataDir = join(dir, 'data');
    const decoyDir = join(dir, 'decoy');
    const first = await startGateway(dataDir, decoyDir);
    expect(existsSync(join(dataDir, 'tollgate.db'))).toBe(true);
    expect(existsSync(decoyDir)).toBe(false);
    // The start-up summary names the store (on stderr, printed before the listening line: no race with the log).
    expect(first.cli.stderr).toContain(`data store: sqlite:${join(dataDir, 'tollgate.db')}`);

    const create = spawnCli(['keys', 'create', '--alias', 'survivor', '--json'], { TOLLGATE_URL: first.url, TOLLGATE_MASTER_KEY: MASTER_KEY }, cwd);
    expect(await create.exited).toEqual({ code: 0, signal: null });
    expect(create.stderr).toEqual([]);
    const created = JSON.parse(create.stdout.join('\n')) as { key: string; key_alias: string };
    expect(created.key_alias).toBe('survivor');
    expect((await ask(first.url, created.key)).status).toBe(200);
    await stop(first.cli);

    const second = await startGateway(dataDir, decoyDir);
    const res = await ask(second.url, created.key);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString()).content).toEqual([{ type: 'text', text: 'Hello from mock' }]);
    expect(mock.requests.length).toBe(2);
    expect(mock.requests[1].headers['x-api-key']).toBe(UPSTREAM_KEY);
    const wrong = await ask(second.url, `${created.key}x`);
    expect(wrong.status).toBe(401);
    expect(mock.requests.length).toBe(2);
    await stop(second.cli);
    expect(existsSync(decoyDir)).toBe(false);
  }, 60_000); // two gateway boots and a CLI run: slow on a loaded machine
});
