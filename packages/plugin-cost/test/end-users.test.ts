import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DRIVERS, type TestDatabase } from '@tollgate/storage/testing';
import { messageJson, rawRequest, type RawResponse } from '@tollgate/testing';
import { MASTER_KEY, startCostHarness, type CostHarness } from './harness.js';

const DAY_MS = 86_400_000;
const OAUTH = 'sk-ant-oat01-subscriber-end-user-5c1e';
/** Claude Code's metadata.user_id: a JSON document whose account_uuid is the end user. */
const claudeCodeUserId = (account: string) => JSON.stringify({ device_id: 'dev-7f', account_uuid: account, session_id: '5d0c9e1e-2f7a-4c43-9a57-3a1b4c5d6e7f' });

const badRequest = (message: string) => ({ status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message } } });

describe.each(DRIVERS)('end users on %s', (driver) => {
  let db: TestDatabase;
  let h: CostHarness;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase(driver);
    h = await startCostHarness({ db });
    // $1 + $5 per MTok on claude-haiku-4-5: $0.0035 a request.
    h.mock.route('POST', '/v1/messages', () => ({ json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 1000, output_tokens: 500 } }) }));
    h.mock.route('POST', '/v1/messages/count_tokens', { json: { input_tokens: 12 } });
    key = (await h.admin('POST', '/key/generate', { key_alias: `end-users-${driver}` })).body.key;
  }, 30_000);
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  /** A message from `endUser` (in litellm_metadata.user), or with these body fields and headers. */
  const ask = (body: Record<string, unknown>, headers: Record<string, string> = { 'x-api-key': key }, path = '/v1/messages'): Promise<RawResponse> =>
    rawRequest(`${h.baseURL}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }], ...body }),
    });
  const as = (endUser: string) => ask({ litellm_metadata: { user: endUser } });
  /** A refusal: its status, x-should-retry and body (without the request id, which differs each time). */
  const error = (res: RawResponse) => {
    const { request_id: _id, ...body } = JSON.parse(res.body.toString());
    return { status: res.status, retry: res.headers['x-should-retry'], body };
  };

  it('creates, reads, updates, blocks, lists and deletes end users in LiteLLM shapes', async () => {
    const made = await h.admin('POST', '/customer/new', { user_id: 'crud-1', alias: 'Acme', max_budget: 2.5, budget_duration: '30d' });
    expect(made.status).toBe(200);
    const start = Math.floor(Date.parse(made.body.updated_at) / DAY_MS) * DAY_MS;
    const budget = { max_budget: 2.5, budget_duration: '30d', budget_reset_at: new Date(start + 30 * DAY_MS).toISOString(), spend: 0, spend_exact: '0' };
    expect(made.body).toEqual({
      user_id: 'crud-1', alias: 'Acme', blocked: false, spend: 0, spend_exact: '0', litellm_budget_table: budget, created_at: made.body.updated_at, updated_at: made.body.updated_at,
    });
    expect(await h.admin('POST', '/customer/new', { user_id: 'crud-1' })).toEqual(badRequest('end user "crud-1" already exists: change it with /customer/update'));

    const updated = await h.admin('POST', '/customer/update', { user_id: 'crud-1', alias: null, max_budget: 3 });
    expect(updated.body).toMatchObject({ user_id: 'crud-1', alias: null, blocked: false, litellm_budget_table: { ...budget, max_budget: 3 } });
    const cleared = await h.admin('POST', '/customer/update', { user_id: 'crud-1', max_budget: null });
    expect(cleared.body).toMatchObject({ litellm_budget_table: null });

    await h.admin('POST', '/customer/new', { user_id: 'crud-2' });
    const blocked = await h.admin('POST', '/customer/block', { user_ids: ['crud-2', 'crud-new'] });
    expect(blocked.body.blocked_users.map((u: any) => [u.user_id, u.blocked])).toEqual([['crud-2', true], ['crud-new', true]]);
    const unblocked = await h.admin('POST', '/customer/unblock', { user_ids: ['crud-new', 'never-made'] });
    expect(unblocked.body.unblocked_users.map((u: any) => [u.user_id, u.blocked])).toEqual([['crud-new', false]]);

    const list = (await h.admin('GET', '/customer/list')).body as any[];
    expect(list.filter((u) => u.user_id.startsWith('crud-')).map((u) => [u.user_id, u.blocked])).toEqual([['crud-1', false], ['crud-2', true], ['crud-new', false]]);
    const info = await h.admin('GET', '/customer/info?end_user_id=crud-2');
    expect(info.body).toMatchObject({ user_id: 'crud-2', blocked: true, spend_exact: '0', litellm_budget_table: null, request_count: 0, first_seen: null, last_seen: null });

    // All or nothing: one unknown id and none is deleted.
    expect(await h.admin('POST', '/customer/delete', { user_ids: ['crud-1', 'nobody'] })).toEqual({
      status: 404,
      body: { type: 'error', error: { type: 'not_found_error', message: 'no such end user: "nobody"' } },
    });
    expect((await h.admin('POST', '/customer/delete', { user_ids: ['crud-1', 'crud-2', 'crud-new'] })).body).toEqual({ deleted_customers: 3, user_ids: ['crud-1', 'crud-2', 'crud-new'] });
    expect((await h.admin('GET', '/customer/info?end_user_id=crud-2')).status).toBe(404);
    expect((await h.admin('POST', '/customer/update', { user_id: 'crud-1', blocked: true })).status).toBe(404);
  });

  it('refuses bad input with a 400 in Anthropic\'s shape, naming the problem', async () => {
    const allowed = 'allowed: user_id, alias, blocked, max_budget, budget_duration';
    expect(await h.admin('POST', '/customer/new', { user_id: 'bad', budget_id: 'free-tier' })).toEqual(badRequest(`unknown field "budget_id" (${allowed})`));
    expect(await h.admin('POST', '/customer/new', { max_budget: 1 })).toEqual(badRequest("body must have required property 'user_id'"));
    expect(await h.admin('POST', '/customer/new', { user_id: '' })).toEqual(badRequest('user_id must NOT have fewer than 1 characters'));
    expect(await h.admin('POST', '/customer/new', { user_id: 'bad', max_budget: -1 })).toEqual(badRequest('max_budget must be >= 0'));
    expect(await h.admin('POST', '/customer/new', { user_id: 'bad', max_budget: 1, budget_duration: '1h' })).toEqual(
      badRequest('budget_duration must be whole days, weeks or months such as 1d, 30d, 2w or 1mo (end-user budget windows are UTC days)'),
    );
    expect(await h.admin('POST', '/customer/new', { user_id: 'bad', budget_duration: '1d' })).toEqual(badRequest('budget_duration needs a max_budget'));
    expect(await h.admin('POST', '/customer/new', { user_id: 'bad', max_budget: 0.1234567890123 })).toEqual(badRequest('max_budget must be a USD amount with at most 12 decimals'));
    expect(await h.admin('POST', '/customer/update', { user_id: 'bad' })).toEqual(badRequest('nothing to update: give at least one of alias, blocked, max_budget, budget_duration'));
    expect(await h.admin('POST', '/customer/block', { user_ids: [] })).toEqual(badRequest('user_ids must NOT have fewer than 1 items'));
    expect(await h.admin('POST', '/customer/delete', { user_ids: 'bad' })).toEqual(badRequest('user_ids must be array'));
    expect(await h.admin('GET', '/customer/list?page=2')).toEqual(badRequest('unknown query parameter page (expected one of )'));
    expect(await h.admin('GET', '/customer/info')).toEqual(badRequest('query parameter end_user_id is required'));
    // Nothing was made by any of them.
    expect((await h.admin('GET', '/customer/info?end_user_id=bad')).status).toBe(404);
  });

  it('needs the master key on every route', async () => {
    const routes: [string, string][] = [['POST', '/customer/new'], ['POST', '/customer/update'], ['POST', '/customer/delete'], ['POST', '/customer/block'], ['POST', '/customer/unblock'], ['GET', '/customer/list'], ['GET', '/customer/info?end_user_id=x']];
    for (const [method, path] of routes) {
      for (const credential of [undefined, key]) {
        const res = await rawRequest(`${h.url}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...(credential ? { 'x-api-key': credential } : {}) },
          body: method === 'POST' ? JSON.stringify({ user_id: 'sneaky', user_ids: ['sneaky'], blocked: true }) : undefined,
        });
        expect([path, res.status, JSON.parse(res.body.toString()).error.type]).toEqual([path, 401, 'authentication_error']);
      }
    }
    expect((await h.admin('GET', '/customer/info?end_user_id=sneaky')).status).toBe(404);
  });

  it('refuses an end user once its budget is spent, with x-should-retry: false; other end users go on', async () => {
    await h.admin('POST', '/customer/new', { user_id: 'capped', max_budget: 0.005 });
    expect((await as('capped')).status).toBe(200); // $0.0035 spent
    expect((await as('capped')).status).toBe(200); // under $0.005 when admitted: $0.007 spent
    const refused = await as('capped');
    expect(error(refused)).toEqual({
      status: 429,
      retry: 'false',
      body: { type: 'error', error: { type: 'rate_limit_error', message: 'budget exceeded for end user "capped": spent $0.007 of its $0.005 budget (it does not reset)' } },
    });
    const upstream = h.mock.requests.filter((r) => r.path === '/v1/messages').length;
    // Another end user, and a request with none, are not affected; count_tokens spends nothing and goes through.
    expect((await as('uncapped')).status).toBe(200);
    expect((await ask({})).status).toBe(200);
    expect((await ask({ litellm_metadata: { user: 'capped' } }, { 'x-api-key': key }, '/v1/messages/count_tokens')).status).toBe(200);
    expect(h.mock.requests.filter((r) => r.path === '/v1/messages').length).toBe(upstream + 2);

    await h.committed(h.completed.length);
    const info = (await h.admin('GET', '/customer/info?end_user_id=capped')).body;
    // Two served, one refused, one count_tokens.
    expect(info).toMatchObject({ spend_exact: '0.007', litellm_budget_table: { max_budget: 0.005, spend_exact: '0.007', budget_reset_at: null }, request_count: 4 });
    // Raised: admitted again.
    await h.admin('POST', '/customer/update', { user_id: 'capped', max_budget: 0.01 });
    expect((await as('capped')).status).toBe(200);
  });

  it('counts the spend an end user had before its budget was set', async () => {
    expect((await as('late-budget')).status).toBe(200);
    await h.admin('POST', '/customer/new', { user_id: 'late-budget', max_budget: 0.003, budget_duration: '1d' });
    expect(error(await as('late-budget'))).toMatchObject({ status: 429, body: { error: { message: expect.stringMatching(/^budget exceeded for end user "late-budget": spent \$0\.0035 of its \$0\.003 budget \(it resets at \d{4}-\d\d-\d\dT00:00:00\.000Z\)$/) } } });
  });

  it('refuses a blocked end user on every request, from any source, until unblocked', async () => {
    await h.admin('POST', '/customer/block', { user_ids: ['blocked-1'] });
    const blocked = { status: 403, retry: 'false', body: { type: 'error', error: { type: 'permission_error', message: 'end user "blocked-1" is blocked' } } };
    expect(error(await as('blocked-1'))).toEqual(blocked);
    expect(error(await ask({}, { 'x-api-key': key, 'x-tollgate-end-user': 'blocked-1' }))).toEqual(blocked);
    expect(error(await ask({ metadata: { user_id: 'blocked-1' } }))).toEqual(blocked);
    expect(error(await ask({ litellm_metadata: { user: 'blocked-1' } }, { 'x-api-key': key }, '/v1/messages/count_tokens'))).toEqual(blocked);
    expect((await as('blocked-2')).status).toBe(200);
    await h.admin('POST', '/customer/unblock', { user_ids: ['blocked-1'] });
    expect((await as('blocked-1')).status).toBe(200);
  });

  it("refuses a subscription relay (own OAuth token) once the Claude Code account's budget is spent", async () => {
    const own = (await h.admin('POST', '/key/generate', { key_alias: `own-${driver}`, metadata: { own_credentials: true } })).body.key;
    await h.admin('POST', '/customer/new', { user_id: 'acct-sub-1', max_budget: 0.005 });
    const relay = (account: string) =>
      ask({ metadata: { user_id: claudeCodeUserId(account) } }, { 'x-tollgate-key': own, authorization: `Bearer ${OAUTH}`, 'anthropic-beta': 'oauth-2025-04-20' });
    for (let i = 0; i < 2; i++) {
      expect((await relay('acct-sub-1')).status).toBe(200);
      expect(h.mock.requests.at(-1)!.headers.authorization).toBe(`Bearer ${OAUTH}`);
    }
    expect(h.completed.slice(-2).map((r) => [r.billing, r.endUser])).toEqual([['subscription', 'acct-sub-1'], ['subscription', 'acct-sub-1']]);
    const upstream = h.mock.requests.length;
    expect(error(await relay('acct-sub-1'))).toMatchObject({ status: 429, retry: 'false', body: { error: { message: 'budget exceeded for end user "acct-sub-1": spent $0.007 of its $0.005 budget (it does not reset)' } } });
    expect(h.mock.requests.length).toBe(upstream);
    expect((await relay('acct-sub-2')).status).toBe(200);
  });

  it('keeps budgets, blocks and the spend counted against them across a restart', async () => {
    await h.admin('POST', '/customer/new', { user_id: 'restart-1', max_budget: 0.003 });
    await h.admin('POST', '/customer/block', { user_ids: ['restart-2'] });
    expect((await as('restart-1')).status).toBe(200);
    await h.close();
    h = await startCostHarness({ db });
    h.mock.route('POST', '/v1/messages', () => ({ json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 1000, output_tokens: 500 } }) }));
    expect(error(await as('restart-1'))).toMatchObject({ status: 429, body: { error: { message: 'budget exceeded for end user "restart-1": spent $0.0035 of its $0.003 budget (it does not reset)' } } });
    expect(error(await as('restart-2')).status).toBe(403);
    expect(error(await as('capped'))).toMatchObject({ status: 429, body: { error: { message: 'budget exceeded for end user "capped": spent $0.0105 of its $0.01 budget (it does not reset)' } } });
  });
});
