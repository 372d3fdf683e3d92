// The Claude Code conformance suite: the real CLI (pinned in examples/claude-code/install.mjs,
// installed into node_modules/.cache on first use) run non-interactively through a real
// gateway (storage, auth, cost) against the mock upstream. It asserts what the upstream
// received and what the ledger booked. Without the npm registry the install fails, and so
// does every test here: nothing is skipped.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlugin, type CompletionRecord } from '@tollgate/core';
import { startTestGateway, type TestGateway } from '@tollgate/core/testing';
import authPlugin from '@tollgate/plugin-auth';
import { costPlugin } from '@tollgate/plugin-cost';
import storagePlugin from '@tollgate/storage';
import { createMockUpstream, errorReply, messageStreamEvents, until, type MockUpstream, type RecordedRequest, type Reply } from '@tollgate/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLAUDE_CODE_VERSION, ensureClaudeCode } from '../claude-code/install.mjs';

const MASTER_KEY = 'sk-tg-master-claude-code-7f3a';
const UPSTREAM_KEY = 'sk-ant-upstream-claude-code-9c21';
const CLIENT_API_KEY = 'sk-ant-api03-developers-own-key-5b8e';
const OAUTH_TOKEN = 'sk-ant-oat01-subscribers-token-2d4f';
const MODEL = 'claude-opus-5-5';

let claude: string;
let home: string;
let dir: string;
let mock: MockUpstream;
let t: TestGateway;
/** The body bytes each request arrived with at the gateway, by request id. */
const arrived = new Map<string, Buffer>();
/** The usage the mock reports for the next messages; the cacheable prefix is 12,000 tokens. */
let cache: 'write' | 'read' = 'write';

/** Records the body as the client sent it, before any plugin reads it. */
const wiretap = definePlugin({
  name: 'wiretap',
  priority: 1000,
  setup: () => ({ onRequest: (ctx) => void arrived.set(ctx.id, Buffer.from(ctx.request.body)) }),
});

/** Answers like Anthropic, and like it refuses a credential it does not know. */
function answer(req: RecordedRequest): Reply {
  const auth = req.headers.authorization;
  const known = req.headers['x-api-key'] === UPSTREAM_KEY || req.headers['x-api-key'] === CLIENT_API_KEY || auth === `Bearer ${OAUTH_TOKEN}`;
  if (!known) return errorReply('authentication_error', 'invalid x-api-key');
  if (auth !== undefined && !String(req.headers['anthropic-beta']).split(',').includes('oauth-2025-04-20')) {
    return errorReply('authentication_error', 'OAuth authentication is currently not supported.');
  }
  const usage = cache === 'write'
    ? { input_tokens: 30, cache_creation_input_tokens: 12000, cache_creation: { ephemeral_5m_input_tokens: 12000, ephemeral_1h_input_tokens: 0 }, output_tokens: 8 }
    : { input_tokens: 30, cache_read_input_tokens: 12000, output_tokens: 8 };
  const headers: Record<string, string> = auth === undefined ? {} : { 'anthropic-ratelimit-unified-status': 'allowed', 'anthropic-ratelimit-unified-5h-utilization': '0.25' };
  return { headers, sse: messageStreamEvents({ model: MODEL, text: 'PONG', usage }) };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * `claude -p` with exactly this environment (plus PATH and a fresh HOME), stdin closed. With
 * `account`, HOME holds the claude.ai account a `claude /login` stores (its uuid is what Claude
 * Code sends as `account_uuid`).
 */
async function runClaude(env: Record<string, string>, settings?: unknown, account?: string): Promise<Run> {
  await rm(home, { recursive: true, force: true });
  await mkdir(join(home, '.claude'), { recursive: true });
  if (settings) await writeFile(join(home, '.claude', 'settings.json'), JSON.stringify(settings));
  if (account) await writeFile(join(home, '.claude.json'), JSON.stringify({ oauthAccount: { accountUuid: account, emailAddress: 'subscriber@example.com' } }));
  const started = performance.now();
  return new Promise((resolve) => {
    const child = execFile(
      claude,
      ['-p', 'Reply with the single word PONG.', '--model', MODEL],
      {
        cwd: dir,
        timeout: 120_000,
        env: { PATH: process.env.PATH ?? '', HOME: home, ANTHROPIC_BASE_URL: t.baseURL, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', ...env },
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr, ms: performance.now() - started }),
    );
    child.stdin?.end();
  });
}

async function createKey(body: Record<string, unknown>): Promise<string> {
  const res = await t.admin('POST', '/key/generate', body);
  expect(res.status).toBe(200);
  return res.body.key as string;
}

/** The ledger row of a request, once written. */
async function ledgerRow(requestId: string): Promise<Record<string, any>> {
  let rows: any[] = [];
  await until(async () => {
    rows = (await t.admin('GET', `/spend/logs?request_id=${requestId}`)).body;
    return rows.length === 1;
  }, 10_000);
  return rows[0];
}

/** The one messages request of a run, as the mock and the gateway saw it. */
function onlyMessage(): { up: RecordedRequest; record: CompletionRecord } {
  const messages = mock.requests.filter((r) => r.path.startsWith('/v1/messages'));
  expect(messages).toHaveLength(1);
  const records = t.records.filter((r) => r.routeKind === 'messages');
  expect(records).toHaveLength(1);
  return { up: messages[0]!, record: records[0]! };
}

/** What every Claude Code request must look like upstream, whoever pays. */
function expectClaudeCodeRequest(up: RecordedRequest, record: CompletionRecord): void {
  expect(up.method).toBe('POST');
  expect(up.path).toBe('/v1/messages?beta=true');
  expect(String(up.headers['anthropic-beta']).split(',')).toContain('claude-code-20250219');
  expect(up.headers['anthropic-version']).toBe('2023-06-01');
  expect(up.headers['user-agent']).toBe(`claude-cli/${CLAUDE_CODE_VERSION} (external, sdk-cli)`);
  expect(up.headers['x-tollgate-key']).toBeUndefined();
  // Body byte for byte as Claude Code sent it: its system blocks (with cache_control) untouched.
  expect(up.body.equals(arrived.get(record.id)!)).toBe(true);
  const body = up.json() as { system: { cache_control?: unknown }[]; metadata: { user_id: string }; stream: boolean };
  expect(body.stream).toBe(true);
  expect(body.system.some((b) => b.cache_control !== undefined)).toBe(true);
  // The session Claude Code names in its header and inside metadata.user_id.
  const session = up.headers['x-claude-code-session-id'];
  expect(session).toMatch(/^[0-9a-f-]{36}$/);
  expect(JSON.parse(body.metadata.user_id).session_id).toBe(session);
  expect(record.client).toEqual({ sessionId: session, agentId: undefined, client: `claude-cli/${CLAUDE_CODE_VERSION}` });
}

beforeAll(async () => {
  claude = await ensureClaudeCode();
  dir = await mkdtemp(join(tmpdir(), 'tollgate-claude-code-'));
  home = join(dir, 'home');
  mock = await createMockUpstream();
  mock.route('POST', '/v1/messages', answer);
  t = await startTestGateway({
    upstream: mock,
    config: {
      providers: { anthropic: { apiKey: UPSTREAM_KEY } },
      plugins: [
        { use: '@tollgate/storage', config: { dataDir: join(dir, 'data') } },
        { use: '@tollgate/plugin-auth', config: { masterKey: MASTER_KEY } },
        { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 20 }, batches: { settleEveryMs: 0 } } },
      ],
    },
    plugins: [wiretap],
    modules: { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin },
    adminKey: MASTER_KEY,
    graceMs: 0,
  });
}, 360_000);

afterAll(async () => {
  await t?.close();
  await mock?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  mock.requests.length = 0;
  t.records.length = 0;
  cache = 'write';
});

describe(`Claude Code ${CLAUDE_CODE_VERSION} through the gateway`, { timeout: 180_000 }, () => {
  it('with the virtual key as a Bearer token (ANTHROPIC_AUTH_TOKEN): the upstream key goes upstream, the row names developer and session, cache writes priced', async () => {
    const key = await createKey({ key_alias: 'cc-bearer', user_id: 'alice' });
    const run = await runClaude({ ANTHROPIC_AUTH_TOKEN: key });
    expect([run.code, run.stdout.trim()]).toEqual([0, 'PONG']);
    const { up, record } = onlyMessage();
    expectClaudeCodeRequest(up, record);
    expect(up.headers['x-api-key']).toBe(UPSTREAM_KEY);
    expect(up.headers.authorization).toBeUndefined();
    const row = await ledgerRow(record.id);
    expect(row).toMatchObject({ user: 'alice', key_alias: 'cc-bearer', end_user: null, model: MODEL, billing: 'gateway' });
    expect([row.session_id, row.agent_id, row.client]).toEqual([up.headers['x-claude-code-session-id'], null, `claude-cli/${CLAUDE_CODE_VERSION}`]);
    expect([row.input_tokens, row.cache_creation_5m_tokens, row.cache_read_input_tokens, row.output_tokens]).toEqual([30, 12000, 0, 8]);
    // 30 × $4 + 12,000 × $5 + 8 × $20 per million tokens.
    expect(row.spend_exact).toBe('0.06028');
  });

  it('with the virtual key as x-api-key (ANTHROPIC_API_KEY), cache reads priced', async () => {
    const key = await createKey({ key_alias: 'cc-x-api-key', user_id: 'bob' });
    cache = 'read';
    const run = await runClaude({ ANTHROPIC_API_KEY: key });
    expect([run.code, run.stdout.trim()]).toEqual([0, 'PONG']);
    const { up, record } = onlyMessage();
    expectClaudeCodeRequest(up, record);
    expect(up.headers['x-api-key']).toBe(UPSTREAM_KEY);
    const row = await ledgerRow(record.id);
    expect(row).toMatchObject({ user: 'bob', key_alias: 'cc-x-api-key', billing: 'gateway', cache_read_input_tokens: 12000 });
    // 30 × $4 + 12,000 × $0.20 + 8 × $20 per million tokens.
    expect(row.spend_exact).toBe('0.00268');
  });

  it('with the virtual key from apiKeyHelper (sent as x-api-key and Bearer at once)', async () => {
    const key = await createKey({ key_alias: 'cc-helper', user_id: 'carol' });
    const run = await runClaude({}, { apiKeyHelper: `echo ${key}` });
    expect([run.code, run.stdout.trim()]).toEqual([0, 'PONG']);
    const { up, record } = onlyMessage();
    expectClaudeCodeRequest(up, record);
    expect([up.headers['x-api-key'], up.headers.authorization]).toEqual([UPSTREAM_KEY, undefined]);
    expect((await ledgerRow(record.id)).user).toBe('carol');
  });

  it('with the virtual key in a custom header: a key without own credentials pays with the gateway key, the client key stripped', async () => {
    const key = await createKey({ key_alias: 'cc-header', user_id: 'dave' });
    const run = await runClaude({ ANTHROPIC_CUSTOM_HEADERS: `x-tollgate-key: ${key}`, ANTHROPIC_API_KEY: CLIENT_API_KEY });
    expect([run.code, run.stdout.trim()]).toEqual([0, 'PONG']);
    const { up, record } = onlyMessage();
    expectClaudeCodeRequest(up, record);
    expect(up.headers['x-api-key']).toBe(UPSTREAM_KEY);
    expect((await ledgerRow(record.id))).toMatchObject({ user: 'dave', billing: 'gateway' });
  });

  it("brings the developer's own API key: it goes upstream, the gateway's key does not, booked as client_key", async () => {
    const key = await createKey({ key_alias: 'cc-own-key', user_id: 'erin', metadata: { own_credentials: true } });
    const run = await runClaude({ ANTHROPIC_CUSTOM_HEADERS: `x-tollgate-key: ${key}`, ANTHROPIC_API_KEY: CLIENT_API_KEY });
    expect([run.code, run.stdout.trim()]).toEqual([0, 'PONG']);
    const { up, record } = onlyMessage();
    expectClaudeCodeRequest(up, record);
    expect([up.headers['x-api-key'], up.headers.authorization]).toEqual([CLIENT_API_KEY, undefined]);
    const row = await ledgerRow(record.id);
    expect(row).toMatchObject({ user: 'erin', billing: 'client_key', spend_exact: '0.06028' });
    expect(t.logs.join('\n')).not.toContain(CLIENT_API_KEY);
    expect(JSON.stringify(row)).not.toContain(CLIENT_API_KEY);
  });

  it('relays a claude.ai subscription: Bearer token and every beta (oauth included) untouched, booked as subscription at the API price', async () => {
    const key = await createKey({ key_alias: 'cc-subscription', user_id: 'frank', metadata: { own_credentials: true } });
    const run = await runClaude({ ANTHROPIC_CUSTOM_HEADERS: `x-tollgate-key: ${key}`, CLAUDE_CODE_OAUTH_TOKEN: OAUTH_TOKEN });
    expect([run.code, run.stdout.trim()]).toEqual([0, 'PONG']);
    const { up, record } = onlyMessage();
    expectClaudeCodeRequest(up, record);
    expect([up.headers.authorization, up.headers['x-api-key']]).toEqual([`Bearer ${OAUTH_TOKEN}`, undefined]);
    expect(String(up.headers['anthropic-beta']).split(',')).toContain('oauth-2025-04-20');
    const row = await ledgerRow(record.id);
    expect(row).toMatchObject({ user: 'frank', billing: 'subscription', spend_exact: '0.06028' });
    expect(t.logs.join('\n')).not.toContain(OAUTH_TOKEN);
    expect(JSON.stringify(row)).not.toContain(OAUTH_TOKEN);
    // The subscription's rate-limit state reaches the client (Claude Code shows it).
    const res = await fetch(`${t.baseURL}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { 'x-tollgate-key': key, authorization: `Bearer ${OAUTH_TOKEN}`, 'anthropic-beta': 'oauth-2025-04-20', 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.text();
    expect([res.status, res.headers.get('anthropic-ratelimit-unified-status'), res.headers.get('anthropic-ratelimit-unified-5h-utilization')]).toEqual([200, 'allowed', '0.25']);
  });

  it('stops at once on a budget refusal: one attempt, no retries, a clear message', async () => {
    const key = await createKey({ key_alias: 'cc-broke', user_id: 'gina', max_budget: 0 });
    const run = await runClaude({ ANTHROPIC_AUTH_TOKEN: key });
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toContain('budget exceeded for this key');
    // The SDK's retries (10, with backoff: minutes) would show as more attempts.
    expect(t.records.filter((r) => r.routeKind === 'messages').map((r) => r.status)).toEqual([429]);
    expect(mock.requests.filter((r) => r.path.startsWith('/v1/messages'))).toHaveLength(0);
  });

  it("stops a subscriber whose claude.ai account has spent its end-user budget: one attempt, no retries, a clear message", async () => {
    const account = '6f1e2d3c-4b5a-4697-8a8b-9c0d1e2f3a4b';
    const key = await createKey({ key_alias: 'cc-subscriber-capped', user_id: 'hana', metadata: { own_credentials: true } });
    expect((await t.admin('POST', '/customer/new', { user_id: account, max_budget: 0.05 })).status).toBe(200);
    // Earlier work of this account through the gateway: $0.06028, past its $0.05.
    const earlier = await fetch(`${t.baseURL}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { 'x-tollgate-key': key, authorization: `Bearer ${OAUTH_TOKEN}`, 'anthropic-beta': 'oauth-2025-04-20', 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 5, stream: true, metadata: { user_id: JSON.stringify({ device_id: 'd', account_uuid: account, session_id: 's' }) }, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await earlier.text();
    expect(earlier.status).toBe(200);
    t.records.length = 0;
    mock.requests.length = 0;

    const run = await runClaude({ ANTHROPIC_CUSTOM_HEADERS: `x-tollgate-key: ${key}`, CLAUDE_CODE_OAUTH_TOKEN: OAUTH_TOKEN }, undefined, account);
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toContain(`budget exceeded for end user "${account}": spent $0.06028 of its $0.05 budget`);
    expect(t.records.filter((r) => r.routeKind === 'messages').map((r) => [r.status, r.billing, r.endUser])).toEqual([[429, 'subscription', account]]);
    expect(mock.requests.filter((r) => r.path.startsWith('/v1/messages'))).toHaveLength(0);
  });

  it('the report groups the runs by session and by client', async () => {
    const byClient = (await t.admin('GET', '/spend/report?group_by=client')).body as { key: string | null; requests: number }[];
    expect(byClient.find((g) => g.key === `claude-cli/${CLAUDE_CODE_VERSION}`)?.requests).toBeGreaterThanOrEqual(6);
    const bySession = (await t.admin('GET', '/spend/report?group_by=session')).body as { key: string | null; requests: number }[];
    expect(bySession.filter((g) => g.key !== null).every((g) => g.requests === 1)).toBe(true);
    expect(bySession.filter((g) => g.key !== null).length).toBeGreaterThanOrEqual(6);
  });
});
