import Anthropic from '@anthropic-ai/sdk';
import { createMockUpstream, errorReply, messageJson, messageStreamEvents, rawRequest, until, type MockUpstream, type RecordedRequest } from '@tollgate/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './helpers.js';

const MODEL = 'claude-haiku-4-5-20251001';
const NAMES = ['a', 'b', 'c'] as const;
const keyOf = (name: string) => `sk-ant-pool-${name}-0123456789`;

let mocks: Record<string, MockUpstream> = {};
let t: TestGateway | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
  await Promise.all(Object.values(mocks).map((m) => m.close()));
  mocks = {};
});

/** Three mock upstreams, each accepting only its own key, behind one gateway. */
async function startPool(failover: Record<string, unknown> = {}, keys: Record<string, string> = {}): Promise<TestGateway> {
  for (const name of NAMES) mocks[name] = await createMockUpstream({ apiKey: keyOf(name) });
  const upstreams = NAMES.map((name) => ({ name, baseUrl: mocks[name]!.url, apiKey: keys[name] ?? keyOf(name) }));
  t = await startGateway({ upstream: mocks.a!, config: { providers: { anthropic: { apiKey: undefined, baseUrl: undefined, upstreams, failover } } } });
  return t;
}

const sdk = (gw: TestGateway, session?: string) =>
  new Anthropic({ baseURL: gw.baseURL, apiKey: 'client-key', maxRetries: 0, defaultHeaders: session ? { 'x-claude-code-session-id': session } : {} });

const ask = (gw: TestGateway, session: string) => sdk(gw, session).messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] });

const served = () => Object.fromEntries(NAMES.map((n) => [n, mocks[n]!.requests.filter((r) => r.path === '/v1/messages').length]));

/** The session ids (of `candidates`) whose first choice is `name`, found by asking the gateway. */
async function sessionsOn(gw: TestGateway, name: string, count: number): Promise<string[]> {
  const found: string[] = [];
  for (let i = 0; found.length < count; i++) {
    const before = mocks[name]!.requests.length;
    await ask(gw, `probe-${i}`);
    if (mocks[name]!.requests.length > before) found.push(`probe-${i}`);
  }
  return found;
}

describe('upstream pool: failover before the first byte', () => {
  it('a 429 with retry-after goes to another upstream, and the upstream stays out for that long', async () => {
    const gw = await startPool();
    const [onA] = await sessionsOn(gw, 'a', 1);
    mocks.a!.route('POST', '/v1/messages', { ...errorReply('rate_limit_error', 'slow down'), headers: { 'retry-after': '3' } });
    const before = Date.now();
    const answer = await ask(gw, onA!);
    const after = Date.now();
    expect(answer.type).toBe('message');
    const record = (await gw.waitForRecords(gw.records.length)).at(-1)!;
    expect(record.status).toBe(200);
    expect(record.attempts?.[0]).toEqual({ upstream: 'a', status: 429 });
    expect(record.attempts).toHaveLength(2);
    expect(record.upstream).toBe(record.attempts![1]!.upstream);
    expect(record.upstream).not.toBe('a');
    // The body went out the same, byte for byte, on both attempts.
    const other = mocks[record.upstream!]!.requests.at(-1)!;
    expect(other.body.equals(mocks.a!.requests.at(-1)!.body)).toBe(true);
    expect(other.headers['x-api-key']).toBe(keyOf(record.upstream!));

    const health = await gw.admin('GET', '/health/upstreams');
    const a = health.body.providers.anthropic.find((u: { name: string }) => u.name === 'a');
    expect(a.state).toBe('cooldown');
    expect(a.until).toBeGreaterThanOrEqual(before + 3000);
    expect(a.until).toBeLessThanOrEqual(after + 3000);
    expect(a.rateLimited).toBe(1);

    // While it cools down, its sessions go elsewhere without asking it.
    const aCalls = mocks.a!.requests.length;
    for (let i = 0; i < 10; i++) await ask(gw, onA!);
    // (Checked only when the ten requests fit in the cooldown, as they do unless the machine crawls.)
    if (Date.now() < a.until) expect(mocks.a!.requests.length).toBe(aCalls);
    // Once the cooldown is over, the session is back on its own upstream.
    mocks.a!.reset();
    await until(() => Date.now() > a.until, 10_000);
    await ask(gw, onA!);
    expect(gw.records.at(-1)!.upstream).toBe('a');
    expect(gw.records.at(-1)!.attempts).toBeUndefined();
  });

  it('a 529 in the middle of a load costs the clients nothing', async () => {
    const gw = await startPool();
    let sent = 0;
    const worker = async () => {
      const statuses: number[] = [];
      while (sent < 90) {
        const n = sent++;
        if (n === 30) mocks.b!.route('POST', '/v1/messages', errorReply('overloaded_error', 'Overloaded'));
        const answer = await ask(gw, `load-${n % 30}`);
        statuses.push(answer.type === 'message' ? 200 : 0);
      }
      return statuses;
    };
    const results = (await Promise.all([worker(), worker(), worker(), worker(), worker(), worker()])).flat();
    expect(results).toEqual(new Array(90).fill(200));
    const records = await gw.waitForRecords(90);
    expect(records.filter((r) => r.status !== 200)).toEqual([]);
    expect(records.some((r) => r.attempts?.[0]?.status === 529 && r.attempts[0].upstream === 'b')).toBe(true);
  });

  it('a revoked key (401) marks its upstream unhealthy, and the client never sees it', async () => {
    const gw = await startPool({}, { c: 'sk-ant-revoked' });
    for (let i = 0; i < 30; i++) expect((await ask(gw, `s-${i}`)).type).toBe('message');
    expect(gw.records.every((r) => r.status === 200)).toBe(true);
    expect(mocks.c!.requests).toHaveLength(1);
    expect(mocks.c!.requests[0]!.headers['x-api-key']).toBe('sk-ant-revoked');
    const health = await gw.admin('GET', '/health/upstreams');
    expect(health.body.providers.anthropic.map((u: { name: string; state: string }) => [u.name, u.state])).toEqual([
      ['a', 'ok'],
      ['b', 'ok'],
      ['c', 'unhealthy'],
    ]);
    // Secrets never show.
    expect(JSON.stringify(health.body)).not.toContain('sk-ant');
    expect(gw.logs.join('')).not.toContain('sk-ant-revoked');
  });

  it('other 4xx answers are final: the client gets them as they came', async () => {
    const gw = await startPool();
    for (const name of NAMES) mocks[name]!.route('POST', '/v1/messages', errorReply('invalid_request_error', 'bad'));
    await expect(ask(gw, 'x')).rejects.toMatchObject({ status: 400 });
    expect(served().a + served().b + served().c).toBe(1);
  });

  it('connection errors fail over; x-should-retry: false is final', async () => {
    const gw = await startPool();
    const [onA] = await sessionsOn(gw, 'a', 1);
    mocks.a!.once('POST', '/v1/messages', { hangUp: true });
    expect((await ask(gw, onA!)).type).toBe('message');
    expect(gw.records.at(-1)!.attempts?.[0]).toEqual({ upstream: 'a', error: 'TG_ERR_UPSTREAM_FAILED' });
    mocks.a!.once('POST', '/v1/messages', { ...errorReply('api_error', 'no'), headers: { 'x-should-retry': 'false' } });
    await expect(ask(gw, onA!)).rejects.toMatchObject({ status: 500 });
    expect(gw.records.at(-1)!.attempts).toBeUndefined();
  });

  for (const [status, type] of [[529, 'overloaded_error'], [429, 'rate_limit_error']] as const) {
    it(`a streamed upload answered ${status} is relayed, not sent again to the other upstream (its body is gone)`, async () => {
      for (const name of ['a', 'b']) {
        mocks[name] = await createMockUpstream({ apiKey: keyOf(name) });
        mocks[name]!.route('POST', '/v1/files', errorReply(type, 'not now'));
      }
      const upstreams = ['a', 'b'].map((name) => ({ name, baseUrl: mocks[name]!.url, apiKey: keyOf(name) }));
      t = await startGateway({ upstream: mocks.a!, config: { providers: { anthropic: { apiKey: undefined, baseUrl: undefined, upstreams } } } });
      const upload = Buffer.concat([Buffer.from('--xyz\r\ncontent-disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'), Buffer.alloc(64 * 1024, 7), Buffer.from('\r\n--xyz--\r\n')]);
      const res = await rawRequest(`${t.baseURL}/v1/files`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=xyz', 'x-api-key': 'client-key' }, body: upload });
      expect([res.status, JSON.parse(res.body.toString())]).toEqual([status, { type: 'error', error: { type, message: 'not now' } }]);
      const record = (await t.waitForRecords(1))[0]!;
      expect([record.status, record.attempts]).toEqual([status, undefined]);
      const asked = ['a', 'b'].flatMap((name) => mocks[name]!.requests.map((r) => ({ name, path: r.path, body: r.body })));
      expect(asked).toHaveLength(1);
      expect(asked[0]!.name).toBe(record.upstream);
      expect(asked[0]!.path).toBe('/v1/files');
      expect(asked[0]!.body.equals(upload)).toBe(true);
    });
  }

  it('a stream that fails after its first event is not retried and keeps its partial usage', async () => {
    const gw = await startPool();
    const events = messageStreamEvents({ model: MODEL, text: ['one', 'two', 'three'], usage: { input_tokens: 21, output_tokens: 3 } });
    for (const name of NAMES) mocks[name]!.route('POST', '/v1/messages', { sse: events, hangUpAfterEvents: 2 });
    const stream = sdk(gw, 'st').messages.stream({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] });
    await expect(stream.finalMessage()).rejects.toThrow();
    const record = (await gw.waitForRecords(1))[0]!;
    expect(served().a + served().b + served().c).toBe(1);
    expect(record.attempts).toBeUndefined();
    expect(record.error?.code).toBe('TG_ERR_UPSTREAM_FAILED');
    expect(record.usage?.inputTokens).toBe(21);
  });
});

/**
 * A mock of Anthropic's prompt cache, per upstream (per organization/workspace): the first
 * request of a session on an upstream writes its prefix, later ones read it.
 */
function cachingReply(caches: Set<string>, name: string) {
  return (req: RecordedRequest) => {
    const session = String(req.headers['x-claude-code-session-id']);
    const hit = caches.has(`${name}/${session}`);
    caches.add(`${name}/${session}`);
    return { json: messageJson({ model: MODEL, usage: { input_tokens: 10, cache_read_input_tokens: hit ? 1000 : 0, cache_creation_input_tokens: hit ? 0 : 1000, cache_creation: { ephemeral_5m_input_tokens: hit ? 0 : 1000, ephemeral_1h_input_tokens: 0 } } }) };
  };
}

async function cacheReadShare(gw: TestGateway, sessions: number, perSession: number): Promise<{ share: number; stickiness: number[] }> {
  const startAt = gw.records.length;
  for (let round = 0; round < perSession; round++) await Promise.all(Array.from({ length: sessions }, (_, s) => ask(gw, `cache-${s}`)));
  const records = (await gw.waitForRecords(startAt + sessions * perSession)).slice(startAt);
  let read = 0;
  let input = 0;
  const bySession = new Map<string, Map<string, number>>();
  for (const r of records) {
    read += r.usage!.cacheReadTokens;
    input += r.usage!.cacheReadTokens + r.usage!.cacheWriteTokens + r.usage!.inputTokens;
  }
  for (const name of NAMES) {
    for (const req of mocks[name]?.requests ?? []) {
      const s = String(req.headers['x-claude-code-session-id']);
      const m = bySession.get(s) ?? new Map<string, number>();
      m.set(name, (m.get(name) ?? 0) + 1);
      bySession.set(s, m);
    }
  }
  const stickiness = [...bySession.values()].map((m) => Math.max(...m.values()) / [...m.values()].reduce((x, y) => x + y, 0));
  return { share: read / input, stickiness };
}

describe('upstream pool: prompt-cache affinity', () => {
  const SESSIONS = 16;
  const PER_SESSION = 12;

  async function measure(upstreams: readonly string[], affinity: boolean) {
    const caches = new Set<string>();
    for (const name of upstreams) {
      mocks[name] = await createMockUpstream({ apiKey: keyOf(name) });
      mocks[name]!.route('POST', '/v1/messages', cachingReply(caches, name));
    }
    const list = upstreams.map((name) => ({ name, baseUrl: mocks[name]!.url, apiKey: keyOf(name) }));
    t = await startGateway({ upstream: mocks.a!, config: { providers: { anthropic: { apiKey: undefined, baseUrl: undefined, upstreams: list, failover: { affinity } } } } });
    const result = await cacheReadShare(t, SESSIONS, PER_SESSION);
    const spread = Object.fromEntries(upstreams.map((n) => [n, mocks[n]!.requests.length]));
    await t.close();
    t = undefined;
    await Promise.all(Object.values(mocks).map((m) => m.close()));
    mocks = {};
    return { ...result, spread };
  }

  it('keeps each session on one upstream, with the cache-read share of a single upstream', async () => {
    const single = await measure(['a'], true);
    const on = await measure(NAMES, true);
    const off = await measure(NAMES, false);
    // Shown in the test output: the numbers the issue asks to measure.
    console.log(`cache-read share: single ${single.share.toFixed(4)}, pool with affinity ${on.share.toFixed(4)}, pool without ${off.share.toFixed(4)}; spread ${JSON.stringify(on.spread)}`);
    expect(single.share).toBeCloseTo((1000 * (PER_SESSION - 1)) / (1010 * PER_SESSION), 6);
    expect(Math.min(...on.stickiness)).toBeGreaterThanOrEqual(0.95);
    expect(Math.abs(on.share - single.share) / single.share).toBeLessThanOrEqual(0.05);
    // Every upstream gets sessions.
    expect(Object.values(on.spread).every((n) => n > 0)).toBe(true);
    // Without affinity the same load writes each prefix up to three times.
    expect(off.share).toBeLessThan(single.share - 0.05);
  }, 60_000);
});

describe('upstream pool: batches and reload', () => {
  const REQUESTS = [{ custom_id: 'r1', params: { model: MODEL, max_tokens: 8, messages: [{ role: 'user' as const, content: 'Hi' }] } }];

  it('sends a batch and its later calls to the upstream that created it, and finds it after a restart', async () => {
    const gw = await startPool();
    const client = sdk(gw, 'batch-session');
    const batch = await client.messages.batches.create({ requests: REQUESTS });
    const home = NAMES.find((n) => mocks[n]!.batches.get(batch.id))!;
    expect(gw.records.at(-1)!.upstream).toBe(home);
    for (let i = 0; i < 5; i++) expect((await client.messages.batches.retrieve(batch.id)).id).toBe(batch.id);
    const results = [];
    for await (const entry of await client.messages.batches.results(batch.id)) results.push(entry.custom_id);
    expect(results).toEqual(['r1']);
    expect(gw.records.slice(-6).map((r) => r.upstream)).toEqual(new Array(6).fill(home));
    for (const n of NAMES) if (n !== home) expect(mocks[n]!.requests.filter((r) => r.path.startsWith('/v1/messages/batches'))).toEqual([]);

    // A new gateway (a restart, another replica) does not know the batch: it looks for it.
    const upstreams = NAMES.map((name) => ({ name, baseUrl: mocks[name]!.url, apiKey: keyOf(name) }));
    const second = await startGateway({ upstream: mocks.a!, config: { providers: { anthropic: { apiKey: undefined, baseUrl: undefined, upstreams } } } });
    try {
      const other = sdk(second);
      expect((await other.messages.batches.cancel(batch.id)).id).toBe(batch.id);
      const found = second.records.at(-1)!;
      expect(found.upstream).toBe(home);
      expect((found.attempts ?? []).every((a) => a.status === 404 || a.upstream === home)).toBe(true);
      const cancels = (n: string) => mocks[n]!.requests.filter((r) => r.path === `/v1/messages/batches/${batch.id}/cancel`).length;
      expect(NAMES.filter((n) => n !== home).reduce((sum, n) => sum + cancels(n), 0)).toBe(found.attempts ? found.attempts.length - 1 : 0);
      expect(cancels(home)).toBe(1);
      // Once found, it is remembered: no more looking.
      await other.messages.batches.retrieve(batch.id);
      expect(second.records.at(-1)!.attempts).toBeUndefined();
      // A batch no upstream has: the client gets the 404.
      await expect(other.messages.batches.retrieve('msgbatch_nowhere')).rejects.toMatchObject({ status: 404 });
    } finally {
      await second.close();
    }
  });

  it('takes a new upstream list on reload, keeping the health of the upstreams it keeps', async () => {
    const gw = await startPool({}, { c: 'sk-ant-revoked' });
    for (let i = 0; i < 12; i++) await ask(gw, `r-${i}`);
    mocks.d = await createMockUpstream({ apiKey: keyOf('d') });
    const keep = NAMES.map((name) => ({ name, baseUrl: mocks[name]!.url, apiKey: name === 'c' ? 'sk-ant-revoked' : keyOf(name) }));
    gw.gw.reloadUpstreams({ ...gw.gw.config.providers.anthropic, upstreams: [...keep.slice(1), { name: 'd', baseUrl: mocks.d.url, apiKey: keyOf('d'), weight: 1, maxConcurrency: null, rpm: null, tpm: null, headers: {} }].map((u) => ({ weight: 1, maxConcurrency: null, rpm: null, tpm: null, headers: {}, ...u })) });
    const health = (await gw.admin('GET', '/health/upstreams')).body.providers.anthropic;
    expect(health.map((u: { name: string; state: string }) => [u.name, u.state])).toEqual([
      ['b', 'ok'],
      ['c', 'unhealthy'],
      ['d', 'ok'],
    ]);
    const aCalls = mocks.a!.requests.length;
    for (let i = 0; i < 30; i++) await ask(gw, `r-${i}`);
    expect(mocks.a!.requests.length).toBe(aCalls);
    expect(mocks.d.requests.length).toBeGreaterThan(0);
    expect(() => gw.gw.reloadUpstreams({ ...gw.gw.config.providers.anthropic, upstreams: [keep[0]!, keep[0]!] as never })).toThrow(/used twice/);
  });
});

describe('upstream pool: model lists, extra headers and caps', () => {
  it('sends a model only where it is listed, with that upstream headers, and refuses a model nobody serves', async () => {
    for (const name of NAMES) mocks[name] = await createMockUpstream({ apiKey: keyOf(name) });
    const upstreams = [
      { name: 'a', baseUrl: mocks.a!.url, apiKey: keyOf('a'), models: [MODEL] },
      { name: 'b', baseUrl: mocks.b!.url, apiKey: keyOf('b'), models: [MODEL] },
      { name: 'c', baseUrl: mocks.c!.url, apiKey: keyOf('c'), models: ['claude-opus-4-1'], headers: { 'anthropic-workspace-id': 'wrkspc_c' } },
    ];
    t = await startGateway({ upstream: mocks.a!, config: { providers: { anthropic: { apiKey: undefined, baseUrl: undefined, upstreams } } } });
    for (let i = 0; i < 12; i++) await ask(t, `m-${i}`);
    expect(served().c).toBe(0);
    expect(mocks.a!.requests.every((r) => r.headers['anthropic-workspace-id'] === undefined)).toBe(true);
    await sdk(t, 'opus').messages.create({ model: 'claude-opus-4-1', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
    expect(served().c).toBe(1);
    expect(mocks.c!.requests[0]!.headers['anthropic-workspace-id']).toBe('wrkspc_c');
    const refused = await sdk(t, 'x')
      .messages.create({ model: 'claude-nobody-1', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] })
      .catch((e: unknown) => e as { status: number; error: unknown });
    expect(refused).toMatchObject({ status: 400, error: { type: 'error', error: { type: 'invalid_request_error', message: 'no upstream serves the model claude-nobody-1' } } });
  });

  it('answers 429 itself when every upstream is at its own concurrency cap', async () => {
    mocks.a = await createMockUpstream({ apiKey: keyOf('a') });
    mocks.a.route('POST', '/v1/messages', { hang: true });
    const upstreams = [{ name: 'a', baseUrl: mocks.a.url, apiKey: keyOf('a'), maxConcurrency: 1 }];
    t = await startGateway({ upstream: mocks.a, config: { providers: { anthropic: { apiKey: undefined, baseUrl: undefined, upstreams } } } });
    const first = ask(t, 'one').catch((e: unknown) => e);
    await mocks.a.waitForRequests(1);
    const refused = (await ask(t, 'two').catch((e: unknown) => e)) as { status: number; headers: Headers; error: { error: { message: string } } };
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.error.error.message).toBe('every upstream is at the limit the gateway sets for it');
    expect(mocks.a.requests).toHaveLength(1);
    await t.close();
    t = undefined;
    await first;
  });
});
