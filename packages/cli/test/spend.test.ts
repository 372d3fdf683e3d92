import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '@tollgate/core';
import { createMockUpstream, messageJson, rawRequest, type MockUpstream } from '@tollgate/testing';
import { BUNDLED_MODULES } from '../src/cli-config.js';
import { runCliCaptured } from './cli-run.js';

const MASTER_KEY = 'sk-master-spend-cli';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let dir: string;
let mock: MockUpstream;
let gw: Gateway;
let url: string;
const key = { alpha: '', beta: '' };
/** The four requests as /spend/logs returns them, newest first. */
let logs: { startTime: string; message_id: string }[];
const printed: string[] = [];

async function tollgate(args: string[], env: Record<string, string> = { TOLLGATE_URL: url, TOLLGATE_MASTER_KEY: MASTER_KEY }) {
  const run = await runCliCaptured(args, env);
  printed.push(...run.out, ...run.err);
  return run;
}

async function admin(path: string, body?: unknown): Promise<any> {
  const res = await rawRequest(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return JSON.parse(res.body.toString());
}

async function ask(k: string, model: string, id: string, extra: Record<string, unknown>): Promise<void> {
  mock.once('POST', '/v1/messages', { json: messageJson({ id, model, usage: { input_tokens: 1000, output_tokens: 500 } }) });
  const body = JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }], ...extra });
  const res = await rawRequest(`${url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': k }, body });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-spend-cli-'));
  mock = await createMockUpstream();
  gw = await createGateway({
    config: {
      server: { host: '127.0.0.1', port: 0 },
      providers: { anthropic: { baseUrl: mock.url, apiKey: 'up' } },
      plugins: [
        { use: '@tollgate/storage', config: { url: `file:${join(dir, 't.db')}` } },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
        { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 20 } } },
      ],
    },
    modules: { ...BUNDLED_MODULES },
    env: { TOLLGATE_DATA_DIR: dir },
    logDestination: { write: () => undefined },
  });
  url = (await gw.listen()).url;
  key.alpha = (await admin('/key/generate', { key_alias: 'alpha', user_id: 'alice', team_id: 'search' })).key;
  key.beta = (await admin('/key/generate', { key_alias: 'beta', user_id: 'bob', team_id: 'ads' })).key;
  // $1/$5 per MTok: $0.0035 each; $3/$15: $0.0105; an unknown model: unpriced.
  await ask(key.alpha, 'claude-haiku-4-5', 'msg_1', { litellm_metadata: { tags: ['prod', 'search'], user: 'cust-1' } });
  await ask(key.alpha, 'claude-haiku-4-5', 'msg_2', { litellm_metadata: { tags: ['prod'] }, metadata: { user_id: 'cust-2' } });
  await ask(key.beta, 'claude-sonnet-4-6', 'msg_3', { litellm_metadata: { tags: ['batch-jobs'], user: 'cust-1' } });
  await ask(key.beta, 'claude-unknown-9', 'msg_4', {});
  const deadline = Date.now() + 5000;
  while ((logs = await admin('/spend/logs')).length < 4) {
    if (Date.now() > deadline) throw new Error('the ledger rows did not arrive');
    await new Promise((r) => setTimeout(r, 20));
  }
});

afterAll(async () => {
  await gw?.close({ graceMs: 0 });
  await mock?.close();
  await rm(dir, { recursive: true, force: true });
  expect(printed.filter((l) => l.includes(MASTER_KEY))).toEqual([]);
});

describe('tollgate spend report', () => {
  it('prints spend per tag, largest first, without a total (a request counts under each of its tags)', async () => {
    expect(await tollgate(['spend', 'report', '--by', 'tag', '--since', '7d'])).toEqual({
      code: 0,
      err: [],
      out: [
        'TAG         REQUESTS  SPEND_USD  PROMPT_TOKENS  COMPLETION_TOKENS  UNPRICED',
        'batch-jobs  1         0.0105     1000           500                0',
        'prod        2         0.007      2000           1000               0',
        'search      1         0.0035     1000           500                0',
      ],
    });
  });

  it('prints spend per model and per end user with an exact total that names unpriced requests', async () => {
    expect((await tollgate(['spend', 'report', '--by', 'model'])).out).toEqual([
      'MODEL              REQUESTS  SPEND_USD  PROMPT_TOKENS  COMPLETION_TOKENS  UNPRICED',
      'claude-sonnet-4-6  1         0.0105     1000           500                0',
      'claude-haiku-4-5   2         0.007      2000           1000               0',
      'claude-unknown-9   1         0          1000           500                1',
      'total: 4 requests, $0.0175 (1 unpriced: not included)',
    ]);
    expect((await tollgate(['spend', 'report', '--by', 'end_user', '--until', '2999-12-31'])).out).toEqual([
      'END_USER  REQUESTS  SPEND_USD  PROMPT_TOKENS  COMPLETION_TOKENS  UNPRICED',
      'cust-1    2         0.014      2000           1000               0',
      'cust-2    1         0.0035     1000           500                0',
      '-         1         0          1000           500                1',
      'total: 4 requests, $0.0175 (1 unpriced: not included)',
    ]);
  });

  it('shows keys by alias and token', async () => {
    const [a, b] = [sha256(key.alpha), sha256(key.beta)];
    expect((await tollgate(['spend', 'report', '--by', 'key'])).out).toEqual([
      `KEY_ALIAS  TOKEN${' '.repeat(61)}REQUESTS  SPEND_USD  PROMPT_TOKENS  COMPLETION_TOKENS  UNPRICED`,
      `beta       ${b}  2         0.0105     2000           1000               1`,
      `alpha      ${a}  2         0.007      2000           1000               0`,
      'total: 4 requests, $0.0175 (1 unpriced: not included)',
    ]);
  });

  it('says so when a period has no requests, and prints the API answer with --json', async () => {
    expect(await tollgate(['spend', 'report', '--by', 'team', '--until', '2020-01-01'])).toEqual({ code: 0, err: [], out: ['no requests in this period'] });
    const json = await tollgate(['spend', 'report', '--by', 'team', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out.join('\n'))).toEqual([
      { key: 'ads', spend: 0.0105, spend_exact: '0.0105', requests: 2, prompt_tokens: 2000, completion_tokens: 1000, unpriced_requests: 1 },
      { key: 'search', spend: 0.007, spend_exact: '0.007', requests: 2, prompt_tokens: 2000, completion_tokens: 1000, unpriced_requests: 0 },
    ]);
  });
});

describe('tollgate spend logs', () => {
  const time = (i: number) => logs[i].startTime.replace(/\.\d+Z$/, 'Z');

  it('prints the newest requests, filtered by key, tag and end user', async () => {
    expect(await tollgate(['spend', 'logs', '--key', key.alpha, '--tag', 'prod'])).toEqual({
      code: 0,
      err: [],
      out: [
        'TIME                  KEY    CALL      MODEL             END_USER  TAGS         STATUS  PROMPT_TOKENS  COMPLETION_TOKENS  SPEND_USD',
        `${time(2)}  alpha  messages  claude-haiku-4-5  cust-2    prod         200     1000           500                0.0035`,
        `${time(3)}  alpha  messages  claude-haiku-4-5  cust-1    prod,search  200     1000           500                0.0035`,
        '2 requests',
      ],
    });
    expect((await tollgate(['spend', 'logs', '--end-user', 'cust-1', '--limit', '1'])).out).toEqual([
      'TIME                  KEY   CALL      MODEL              END_USER  TAGS        STATUS  PROMPT_TOKENS  COMPLETION_TOKENS  SPEND_USD',
      `${time(1)}  beta  messages  claude-sonnet-4-6  cust-1    batch-jobs  200     1000           500                0.0105`,
      'newest 1 of 2 requests (--limit N for more)',
    ]);
    expect((await tollgate(['spend', 'logs', '--model', 'claude-unknown-9'])).out).toEqual([
      'TIME                  KEY   CALL      MODEL             END_USER  TAGS  STATUS  PROMPT_TOKENS  COMPLETION_TOKENS  SPEND_USD',
      `${time(0)}  beta  messages  claude-unknown-9  -         -     200     1000           500                unpriced`,
      '1 request',
    ]);
    expect((await tollgate(['spend', 'logs', '--tag', 'nothing'])).out).toEqual(['no requests']);
  });

  it('prints the API page with --json', async () => {
    const r = await tollgate(['spend', 'logs', '--key', sha256(key.beta), '--json']);
    const page = JSON.parse(r.out.join('\n'));
    expect(page).toMatchObject({ total: 2, page: 1, page_size: 50, total_pages: 1 });
    expect(page.data.map((l: any) => [l.message_id, l.key_alias, l.spend_exact, l.unpriced])).toEqual([
      ['msg_4', 'beta', '0', true],
      ['msg_3', 'beta', '0.0105', false],
    ]);
  });
});

describe('tollgate prices', () => {
  it("prints the running gateway's price book, one line per dated row, in 100 columns", async () => {
    const r = await tollgate(['prices']);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe('USD/MTok. FROM: in force from (UTC). W5M/W1H: cache writes, READ: reads, B_: batch. *: provisional.');
    expect(r.out[1]).toMatch(/^MODEL +FROM +IN +OUT +W5M +W1H +READ +B_IN +B_OUT$/);
    expect(r.out.filter((l) => l.length > 100)).toEqual([]);
    const cells = (id: string) => r.out.filter((l) => l.startsWith(`${id} `)).map((l) => l.split(/ {2,}/));
    expect(cells('claude-haiku-4-5-20251001')).toEqual([['claude-haiku-4-5-20251001', '-', '1', '5', '1.25', '2', '0.1', '0.5', '2.5']]);
    expect(cells('claude-fable-5-2*')).toEqual([['claude-fable-5-2*', '-', '8', '40', '10', '16', '0.2', '4', '20']]);
    const models = JSON.parse((await tollgate(['prices', '--json'])).out.join('\n'));
    expect(r.out.length).toBe(2 + models.reduce((n: number, m: any) => n + m.rows.length, 0));
  });

  it('shows aliases, long-context rates and the provisional flag with --wide', async () => {
    const r = await tollgate(['prices', '--wide']);
    expect(r.out[0]).toBe('USD per million tokens; FROM: in force from that day (UTC), "-": from the start; FLAG provisional: rests on independent trackers only (see the row\'s source with --json).');
    expect(r.out[1]).toMatch(/^MODEL +ALIASES +FROM +INPUT +OUTPUT +CACHE_WRITE_5M +CACHE_WRITE_1H +CACHE_READ +BATCH_INPUT +BATCH_OUTPUT +LONG_CONTEXT_IN\/OUT +FLAG$/);
    const cells = (id: string) => r.out.filter((l) => l.startsWith(`${id} `)).map((l) => l.split(/ {2,}/));
    expect(cells('claude-haiku-4-5-20251001')).toEqual([['claude-haiku-4-5-20251001', 'claude-haiku-4-5', '-', '1', '5', '1.25', '2', '0.1', '0.5', '2.5', '-', '-']]);
    expect(cells('claude-sonnet-4-5-20250929')).toEqual([
      ['claude-sonnet-4-5-20250929', 'claude-sonnet-4-5', '-', '3', '15', '3.75', '6', '0.3', '1.5', '7.5', '>200000: 6/22.5', '-'],
    ]);
    expect(cells('claude-fable-5-2')).toEqual([['claude-fable-5-2', '-', '-', '8', '40', '10', '16', '0.2', '4', '20', '-', 'provisional']]);
  });
});

describe('tollgate spend reprice', () => {
  it('reports what it could price; the unknown model stays unpriced without a new price', async () => {
    const r = await tollgate(['spend', 'reprice', '--model', 'claude-unknown-9']);
    expect([r.code, r.out]).toEqual([0, ['repriced 0 request(s), adding $0; 1 still without a price']]);
    const j = await tollgate(['spend', 'reprice', '--json']);
    expect(JSON.parse(j.out.join('\n'))).toEqual({ repriced: 0, still_unpriced: 1, added_spend: '0' });
  });
});

describe('tollgate spend settle-batches', () => {
  it('books an ended batch nobody fetched, once, and says what it did', async () => {
    const body = JSON.stringify({ requests: [{ custom_id: 'nightly-1', params: { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] } }] });
    const created = await rawRequest(`${url}/anthropic/v1/messages/batches`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key.alpha }, body });
    expect(created.status).toBe(200);
    // Until its create call's ledger row is written, the batch is not known to the job.
    let first: { checked: number; settled: number; booked: number; failed: number } | undefined;
    for (let i = 0; i < 50 && !first?.booked; i++) {
      const r = await tollgate(['spend', 'settle-batches', '--json']);
      expect(r.code).toBe(0);
      first = JSON.parse(r.out.join('\n'));
      if (!first?.booked) await new Promise((res) => setTimeout(res, 20));
    }
    expect(first).toEqual({ checked: 1, settled: 1, booked: 1, failed: 0 });
    const again = await tollgate(['spend', 'settle-batches']);
    expect([again.code, again.out]).toEqual([0, ['asked about 0 unsettled batch(es): 0 settled, 0 result(s) booked, 0 failed (tried again on the next run)']]);
  });
});

describe('errors', () => {
  it('prints API errors as "<status> <type>: <message>" and exits 1', async () => {
    expect(await tollgate(['spend', 'report', '--by', 'tag', '--master-key', 'sk-wrong'])).toEqual({
      code: 1,
      out: [],
      err: ['tollgate: 401 authentication_error: this route needs the master key or a virtual key'],
    });
    expect(await tollgate(['spend', 'logs', '--until', '2025-02-30'])).toEqual({
      code: 1,
      out: [],
      err: ['tollgate: 400 invalid_request_error: end_date must be an ISO date (2025-01-31) or datetime (2025-01-31T12:00:00Z), got "2025-02-30"'],
    });
  });

  it('exits 2 on usage errors, before calling the gateway', async () => {
    const usage = (message: string) => ({ code: 2, out: [], err: [`tollgate: ${message}`, 'Run "tollgate --help" for usage.'] });
    expect(await tollgate(['spend', 'report'])).toEqual(usage('spend report needs --by (one of tag, key, user, team, end_user, model, session, client, billing)'));
    expect(await tollgate(['spend', 'report', '--by', 'project'])).toEqual(usage('--by must be one of tag, key, user, team, end_user, model, session, client, billing, got "project"'));
    expect(await tollgate(['spend', 'logs', '--since', 'yesterday'])).toEqual(usage('--since must be a duration such as 24h, 7d or 2w, or a date such as 2025-01-31, got "yesterday"'));
    expect(await tollgate(['prices', '--by', 'tag'])).toEqual(usage('--by does not apply to prices'));
    expect(await tollgate(['spend', 'report', '--by', 'tag'], { TOLLGATE_URL: url })).toEqual({
      code: 2,
      out: [],
      err: ['tollgate: spend commands need the master key: set TOLLGATE_MASTER_KEY (or pass --master-key)'],
    });
  });
});
