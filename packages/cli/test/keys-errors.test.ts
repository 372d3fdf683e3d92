import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyView } from '../src/key-format.js';
import { ensureBuilt, killAll, spawnCli } from './cli-process.js';
import { keyName as name, MASTER_KEY, sha256, startKeysHarness, type KeysHarness } from './keys-harness.js';

let dir: string;
let h: KeysHarness;

beforeAll(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'tollgate-keys-errors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  h = await startKeysHarness(dir);
});
afterEach(async () => {
  await killAll();
  await h.close();
  expect(h.printed.filter((l) => l.includes(MASTER_KEY))).toEqual([]);
});

describe('tollgate keys: errors and the binary', () => {
  it('prints API errors as "<status> <type>: <message>" and exits 1', async () => {
    await h.create('--alias', 'taken');
    const cases: [string[], string][] = [
      [['info', 'sk-unknown'], 'tollgate: 404 not_found_error: no such key'],
      [['create', '--alias', 'taken'], 'tollgate: 400 invalid_request_error: key_alias "taken" is already taken'],
      [['create', '--duration', '0d'], 'tollgate: 400 invalid_request_error: duration must be a duration such as 30s, 1h, 1d, 30d or 1mo'],
      [['create', '--max-budget', '5'], 'tollgate: 400 invalid_request_error: max_budget needs a cost plugin (@tollgate/plugin-cost) to count spend, and none is loaded'],
      [['list', '--master-key', 'sk-wrong'], 'tollgate: 401 authentication_error: the admin API needs the master key'],
    ];
    for (const [args, message] of cases) expect(await h.keys(args)).toEqual({ code: 1, out: [], err: [message] });

    const open = await h.startGateway(undefined);
    try {
      expect(await h.keys(['list'], { TOLLGATE_URL: open.url, TOLLGATE_MASTER_KEY: MASTER_KEY })).toEqual({
        code: 1,
        out: [],
        err: ['tollgate: 403 permission_error: key management needs a master key: set TOLLGATE_MASTER_KEY'],
      });
    } finally {
      await open.close({ graceMs: 0 });
    }
  });

  it('takes --url over TOLLGATE_URL and LITELLM_MASTER_KEY as the master key; says clearly when nothing answers', async () => {
    const closed = await h.startGateway(MASTER_KEY);
    const deadUrl = closed.url;
    await closed.close({ graceMs: 0 });

    const viaFlag = await h.keys(['list', '--url', h.url], { TOLLGATE_URL: deadUrl, LITELLM_MASTER_KEY: MASTER_KEY });
    expect(viaFlag).toEqual({ code: 0, out: ['no keys'], err: [] });

    expect(await h.keys(['list'], { TOLLGATE_URL: deadUrl, TOLLGATE_MASTER_KEY: MASTER_KEY })).toEqual({
      code: 1,
      out: [],
      err: [`tollgate: cannot reach the gateway at ${deadUrl} (ECONNREFUSED); is it running? Set its address with --url or TOLLGATE_URL`],
    });
    expect(await h.keys(['list'], { TOLLGATE_URL: h.url })).toEqual({
      code: 2,
      out: [],
      err: ['tollgate: keys commands need the master key: set TOLLGATE_MASTER_KEY (or pass --master-key)'],
    });
    expect(await h.keys(['block'])).toEqual({
      code: 2,
      out: [],
      err: ['tollgate: keys block needs a key (the secret sk-… or its 64-hex token)', 'Run "tollgate --help" for usage.'],
    });
  });

  it('works as the built binary: create --json, list, block, and an error', async () => {
    const env = { TOLLGATE_URL: h.url, TOLLGATE_MASTER_KEY: MASTER_KEY };
    const created = spawnCli(['keys', 'create', '--alias', 'spawned', '--team', 'ops', '--json'], env);
    expect(await created.exited).toEqual({ code: 0, signal: null });
    expect(created.stderr).toEqual([]);
    const k = JSON.parse(created.stdout.join('\n')) as KeyView & { key: string };
    expect(k).toMatchObject({ key_alias: 'spawned', team_id: 'ops', token: sha256(k.key), key_name: name(k.key), blocked: false });
    expect(await h.ask(k.key)).toEqual({ status: 200 });

    const blocked = spawnCli(['keys', 'block', k.key], env);
    expect(await blocked.exited).toEqual({ code: 0, signal: null });
    expect(blocked.stdout).toContain('blocked                yes');
    expect(await h.ask(k.key)).toEqual({ status: 401, error: { type: 'authentication_error', message: 'this API key is blocked' } });

    const list = spawnCli(['keys', 'list'], env);
    expect(await list.exited).toEqual({ code: 0, signal: null });
    expect(list.stdout).toEqual([
      'ALIAS    KEY_NAME    USER  TEAM  MODELS  SPEND/MAX_BUDGET  EXPIRES  BLOCKED',
      `spawned  ${k.key_name}  -     ops   all     0/-               never    yes`,
      'page 1 of 1 (1 key)',
    ]);

    const missing = spawnCli(['keys', 'delete', k.key, 'sk-not-a-key'], env);
    expect(await missing.exited).toEqual({ code: 1, signal: null });
    expect(missing.stdout).toEqual([`deleted ${name(k.key)}`]);
    expect(missing.stderr).toEqual(['tollgate: not found: sk-...-key']);
    expect(await h.ask(k.key)).toEqual({ status: 401, error: { type: 'authentication_error', message: 'invalid API key' } });
    h.printed.push(...created.stderr, ...blocked.stdout, ...blocked.stderr, ...list.stdout, ...list.stderr, ...missing.stdout, ...missing.stderr);
  });
});
