import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KeyPage, KeyView } from '../src/key-format.js';
import { keyName as name, MASTER_KEY, sha256, startKeysHarness, type KeysHarness } from './keys-harness.js';

const HEADER = 'ALIAS   KEY_NAME    USER   TEAM    MODELS             SPEND/MAX_BUDGET  EXPIRES               BLOCKED';
const STORE_IT = 'Store it now: it cannot be shown again (the gateway keeps only its hash).';

let dir: string;
let h: KeysHarness;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  h = await startKeysHarness(dir);
});
afterEach(async () => {
  await h.close();
  expect(h.printed.filter((l) => l.includes(MASTER_KEY))).toEqual([]);
});

/** The key/value lines the CLI prints for `k`, with `over` for the values it renders differently. */
function details(k: KeyView, over: Partial<Record<keyof KeyView, string>> = {}): string[] {
  const v = { ...k, ...over };
  return [
    `token                  ${v.token}`,
    `key_name               ${v.key_name}`,
    `key_alias              ${v.key_alias ?? '-'}`,
    `user_id                ${v.user_id ?? '-'}`,
    `team_id                ${v.team_id ?? '-'}`,
    `models                 ${v.models}`,
    `spend                  0`,
    `max_budget             -`,
    `budget_duration        -`,
    `budget_reset_at        -`,
    `expires                ${v.expires ?? 'never'}`,
    `rpm_limit              ${v.rpm_limit ?? '-'}`,
    `tpm_limit              ${v.tpm_limit ?? '-'}`,
    `max_parallel_requests  ${v.max_parallel_requests ?? '-'}`,
    `blocked                ${v.blocked}`,
    `metadata               ${typeof v.metadata === 'string' ? v.metadata : JSON.stringify(v.metadata)}`,
    `created_at             ${v.created_at}`,
    `updated_at             ${v.updated_at}`,
  ];
}

describe('tollgate keys', () => {
  it('create prints the secret once and every field; the key then works through the gateway, for its models only', async () => {
    const r = await h.keys([
      'create', '--alias', 'ci-bot', '--user', 'alice', '--team', 'search', '--models', 'claude-sonnet-5-5,claude-haiku-4-5',
      '--duration', '7d', '--rpm', '60', '--tpm', '100000', '--max-parallel', '4', '--metadata', '{"env":"ci"}',
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    const key = r.out[0].slice('New key: '.length);
    expect(key).toMatch(/^sk-[A-Za-z0-9_-]{32}$/);
    const { info } = await h.api<{ info: KeyView }>(`/key/info?key=${sha256(key)}`);
    expect(r.out).toEqual([
      `New key: ${key}`,
      STORE_IT,
      '',
      ...details(info, { models: 'claude-sonnet-5-5, claude-haiku-4-5', blocked: 'no' }),
    ]);
    expect(info).toMatchObject({ token: sha256(key), key_name: name(key), key_alias: 'ci-bot', user_id: 'alice', team_id: 'search', rpm_limit: 60 });
    const lifetime = Date.parse(info.expires!) - Date.parse(info.created_at);
    expect(lifetime).toBeGreaterThanOrEqual(7 * 86_400_000);
    expect(lifetime).toBeLessThan(7 * 86_400_000 + 1000);

    expect(await h.ask(key)).toEqual({ status: 200 });
    expect(h.mock.requests.length).toBe(1);
    expect(h.mock.requests[0].headers['x-api-key']).toBe('up');
    expect(await h.ask(key, 'claude-opus-4-1')).toEqual({
      status: 403,
      error: { type: 'permission_error', message: 'this key may not use claude-opus-4-1; allowed models: claude-sonnet-5-5, claude-haiku-4-5' },
    });
    expect(h.mock.requests.length).toBe(1);
  });

  it('list prints a table in the API order, pages and filters, and --json is the API answer', async () => {
    const ci = await h.create('--alias', 'ci-bot', '--user', 'alice', '--models', 'claude-sonnet-5-5', '--duration', '7d');
    const batch = await h.create('--alias', 'batch', '--team', 'search', '--blocked');
    const plain = await h.create();
    const rows: Record<string, string> = {
      [ci.token]: `ci-bot  ${ci.key_name}  alice  -       claude-sonnet-5-5  0/-               ${ci.expires!.replace(/\.\d+Z$/, 'Z')}  no`,
      [batch.token]: `batch   ${batch.key_name}  -      search  all                0/-               never                 yes`,
      [plain.token]: `-       ${plain.key_name}  -      -       all                0/-               never                 no`,
    };
    const all = await h.api<KeyPage>('/key/list?return_full_object=true');
    expect(all.keys.length).toBe(3);

    const r = await h.keys(['list']);
    expect(r).toEqual({ code: 0, out: [HEADER, ...all.keys.map((k) => rows[k.token]), 'page 1 of 1 (3 keys)'], err: [] });

    // Columns are as wide as the page needs: compare the last page's cells, not its spacing.
    const second = await h.keys(['list', '--size', '2', '--page', '2']);
    expect(second.out.length).toBe(3);
    expect(second.out[1].split(/ +/)).toEqual(rows[all.keys[2].token].split(/ +/));
    expect(second.out[2]).toBe('page 2 of 2 (3 keys)');
    const team = await h.keys(['list', '--team', 'search']);
    expect(team.out).toEqual(['ALIAS  KEY_NAME    USER  TEAM    MODELS  SPEND/MAX_BUDGET  EXPIRES  BLOCKED', `batch  ${batch.key_name}  -     search  all     0/-               never    yes`, 'page 1 of 1 (1 key)']);
    expect((await h.keys(['list', '--user', 'nobody'])).out).toEqual(['no keys']);

    const json = await h.keys(['list', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out.join('\n'))).toEqual(all);
  });

  it('info, update, block and unblock take the secret or the token; a blocked key gets 401', async () => {
    const k = await h.create('--alias', 'worker', '--rpm', '10', '--tpm', '500');
    const byKey = await h.keys(['info', k.key]);
    expect(byKey).toEqual({ code: 0, out: details(k, { models: 'all', blocked: 'no' }), err: [] });
    expect((await h.keys(['info', k.token])).out).toEqual(byKey.out);
    // The API echoes the key it was asked about: the CLI sent the token, not the secret.
    const json = await h.keys(['info', k.key, '--json']);
    const { key: _, ...view } = k;
    expect(JSON.parse(json.out.join('\n'))).toEqual({ key: k.token, info: view });

    const updated = await h.keys(['update', k.token, '--rpm', 'none', '--tpm', '1000', '--user', 'bob', '--metadata', '{"owner":"bob"}', '--json']);
    expect(updated.code).toBe(0);
    const after = JSON.parse(updated.out.join('\n')) as KeyView & { key: string };
    expect(after).toEqual({ ...k, key: k.token, rpm_limit: null, tpm_limit: 1000, user_id: 'bob', metadata: { owner: 'bob' }, updated_at: after.updated_at });

    const blocked = await h.keys(['block', k.key]);
    expect(blocked.code).toBe(0);
    expect(blocked.out).toContain('blocked                yes');
    expect(await h.ask(k.key)).toEqual({ status: 401, error: { type: 'authentication_error', message: 'this API key is blocked' } });

    const unblocked = await h.keys(['unblock', k.token]);
    expect(unblocked.code).toBe(0);
    expect(unblocked.out).toContain('blocked                no');
    expect(await h.ask(k.key)).toEqual({ status: 200 });
    expect(h.mock.requests.length).toBe(1);
  });

  it('regenerate prints the new secret once; the old one stops working', async () => {
    const k = await h.create('--alias', 'rotating');
    const r = await h.keys(['regenerate', k.key, '--rpm', '30']);
    expect(r.code).toBe(0);
    const fresh = r.out[0].slice('New key: '.length);
    expect(fresh).not.toBe(k.key);
    const { info } = await h.api<{ info: KeyView }>(`/key/info?key=${sha256(fresh)}`);
    expect(r.out).toEqual([`New key: ${fresh}`, STORE_IT, 'The old key no longer works.', '', ...details(info, { models: 'all', blocked: 'no' })]);
    expect(info).toMatchObject({ key_alias: 'rotating', rpm_limit: 30, key_name: name(fresh), created_at: k.created_at });
    expect(await h.ask(k.key)).toEqual({ status: 401, error: { type: 'authentication_error', message: 'invalid API key' } });
    expect(await h.ask(fresh)).toEqual({ status: 200 });
  });

  it('delete removes keys by secret, token or alias, and exits 1 naming the ones it did not find', async () => {
    const a = await h.create();
    const b = await h.create('--alias', 'batch');
    const c = await h.create();
    expect(await h.keys(['delete', a.key])).toEqual({ code: 0, out: [`deleted ${name(a.key)}`], err: [] });
    expect(await h.ask(a.key)).toEqual({ status: 401, error: { type: 'authentication_error', message: 'invalid API key' } });

    const some = await h.keys(['delete', c.token, '--alias', 'batch', '--alias', 'nope']);
    expect(some).toEqual({ code: 1, out: [`deleted ${c.token}`, 'deleted alias batch'], err: ['tollgate: not found: alias nope'] });
    expect((await h.ask(b.key)).status).toBe(401);
    expect((await h.ask(c.key)).status).toBe(401);

    expect(await h.keys(['delete', '--alias', 'nope'])).toEqual({ code: 1, out: [], err: ['tollgate: 404 not_found_error: no such key'] });
    const json = await h.keys(['delete', a.key, '--json']);
    expect(json).toEqual({ code: 1, out: [], err: ['tollgate: 404 not_found_error: no such key'] });
    expect(h.mock.requests.length).toBe(0);
  });
});
