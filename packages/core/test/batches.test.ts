import Anthropic, { NotFoundError } from '@anthropic-ai/sdk';
import { createMockUpstream, rawRequest, type MockUpstream, type RecordedRequest } from '@tollgate/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, UPSTREAM_KEY, type TestGateway } from './helpers.js';

const PARAMS = { model: 'claude-haiku-4-5-20251001', max_tokens: 32, messages: [{ role: 'user' as const, content: 'Hi' }] };
const REQUESTS = [
  { custom_id: 'ok-1', params: PARAMS },
  { custom_id: 'err-1', params: PARAMS }, // the mock errors custom_ids starting with "err"
];

let mock: MockUpstream;
let tg: TestGateway;
let client: Anthropic;

beforeEach(async () => {
  mock = await createMockUpstream();
  tg = await startGateway({ upstream: mock });
  client = new Anthropic({ apiKey: 'client-key', baseURL: tg.baseURL, maxRetries: 0 });
});

afterEach(async () => {
  await tg?.close();
  await mock?.close();
});

const resultsUrl = (id: string) => `${tg.url}/anthropic/v1/messages/batches/${id}/results`;

/** The batch as the mock holds it, with results_url pointing back at the gateway. */
function expectedBatch(id: string) {
  const batch = mock.batches.get(id);
  expect(batch?.results_url).toBe(`${mock.url}/v1/messages/batches/${id}/results`);
  return { ...batch, results_url: resultsUrl(id) };
}

/** The upstream got exactly this call, with the gateway's key and none of the client's. */
function expectUpstreamCall(req: RecordedRequest, method: string, path: string): void {
  expect(`${req.method} ${req.path}`).toBe(`${method} ${path}`);
  expect(req.headers['x-api-key']).toBe(UPSTREAM_KEY);
  expect(req.headers.authorization).toBeUndefined();
  expect(JSON.stringify(req.headers)).not.toContain('client-key');
}

describe('Message Batches through the gateway', () => {
  it('takes litellm_metadata at the top level of a create (stripped), and refuses it inside a request, where Anthropic would error that request', async () => {
    const created = await client.messages.batches.create({ requests: REQUESTS, litellm_metadata: { tags: ['nightly'], user: 'etl' } } as never);
    expect(mock.requests[0]!.json()).toEqual({ requests: REQUESTS });
    const [record] = await tg.waitForRecords(1);
    expect([created.id, record.tags, record.endUser]).toEqual([expect.stringMatching(/^msgbatch_/), ['nightly'], 'etl']);

    const inside = [REQUESTS[0], { custom_id: 'tagged', params: { ...PARAMS, litellm_metadata: { tags: ['x'] } } }];
    const err = await client.messages.batches.create({ requests: inside } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      error: { type: 'invalid_request_error', message: 'requests.1.params.litellm_metadata: give litellm_metadata once, at the top level of the batch create; it applies to the whole batch' },
    });
    expect(mock.requests).toHaveLength(1);
  });

  it('create, retrieve and list return results_url rewritten to the gateway', async () => {
    const created = await client.messages.batches.create({ requests: REQUESTS });
    const second = await client.messages.batches.create({ requests: REQUESTS.slice(0, 1) });
    const retrieved = await client.messages.batches.retrieve(created.id);
    const page = await client.messages.batches.list({ limit: 10 });

    expect(created.results_url).toBe(resultsUrl(created.id));
    expect(created).toEqual(expectedBatch(created.id));
    expect(created.request_counts).toEqual({ processing: 0, succeeded: 1, errored: 1, canceled: 0, expired: 0 });
    expect(retrieved).toEqual(expectedBatch(created.id));
    expect(page.data).toEqual([expectedBatch(second.id), expectedBatch(created.id)]);
    expect(page.data.map((b) => b.results_url)).toEqual([resultsUrl(second.id), resultsUrl(created.id)]);

    const [c1, c2, r, l] = mock.requests;
    expectUpstreamCall(c1, 'POST', '/v1/messages/batches');
    expect(c1.json()).toEqual({ requests: REQUESTS });
    expectUpstreamCall(c2, 'POST', '/v1/messages/batches');
    expectUpstreamCall(r, 'GET', `/v1/messages/batches/${created.id}`);
    expectUpstreamCall(l, 'GET', '/v1/messages/batches?limit=10');
    expect(mock.requests).toHaveLength(4);

    const records = await tg.waitForRecords(4);
    expect(records.map((rec) => [rec.method, rec.path, rec.routeKind, rec.status])).toEqual([
      ['POST', '/anthropic/v1/messages/batches', 'batches', 200],
      ['POST', '/anthropic/v1/messages/batches', 'batches', 200],
      ['GET', `/anthropic/v1/messages/batches/${created.id}`, 'batches', 200],
      ['GET', '/anthropic/v1/messages/batches', 'batches', 200],
    ]);
  });

  it('results() fetches the rewritten results_url through the gateway', async () => {
    const batch = await client.messages.batches.create({ requests: REQUESTS });
    mock.requests.length = 0;

    const results: unknown[] = [];
    for await (const entry of await client.messages.batches.results(batch.id)) results.push(entry);

    const expected = mock.batches
      .results(batch.id)!
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(results).toEqual(expected);
    expect(results.map((r) => (r as { result: { type: string } }).result.type)).toEqual(['succeeded', 'errored']);
    const [retrieve, download] = mock.requests;
    expectUpstreamCall(retrieve, 'GET', `/v1/messages/batches/${batch.id}`);
    expectUpstreamCall(download, 'GET', `/v1/messages/batches/${batch.id}/results`);
    expect(mock.requests).toHaveLength(2);

    const records = await tg.waitForRecords(3);
    expect(records[2]).toMatchObject({ path: `/anthropic/v1/messages/batches/${batch.id}/results`, routeKind: 'batches', status: 200 });
  });

  it('cancel and delete reach the upstream and come back unchanged but for results_url', async () => {
    const batch = await client.messages.batches.create({ requests: REQUESTS });

    const canceled = await client.messages.batches.cancel(batch.id);
    expect(canceled).toEqual(expectedBatch(batch.id));
    const deleted = await client.messages.batches.delete(batch.id);
    expect(deleted).toEqual({ id: batch.id, type: 'message_batch_deleted' });
    expect(mock.batches.get(batch.id)).toBeUndefined();

    expectUpstreamCall(mock.requests[1], 'POST', `/v1/messages/batches/${batch.id}/cancel`);
    expectUpstreamCall(mock.requests[2], 'DELETE', `/v1/messages/batches/${batch.id}`);
    const records = await tg.waitForRecords(3);
    expect(records.map((r) => [r.method, r.routeKind, r.status])).toEqual([
      ['POST', 'batches', 200],
      ['POST', 'batches', 200],
      ['DELETE', 'batches', 200],
    ]);
  });

  it("relays the upstream's 404 for an unknown batch unchanged", async () => {
    const failure = await client.messages.batches.retrieve('msgbatch_nope').catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(NotFoundError);
    const err = failure as NotFoundError;
    expect(err.status).toBe(404);
    expect(err.error).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'Batch not found: msgbatch_nope' } });
    expectUpstreamCall(mock.requests[0], 'GET', '/v1/messages/batches/msgbatch_nope');
    const [rec] = await tg.waitForRecords(1);
    expect(rec).toMatchObject({ routeKind: 'batches', status: 404 });
    expect(rec.upstreamRequestId).toMatch(/^req_/);
    expect(err.requestID).toBe(rec.upstreamRequestId);
  });

  it('asks the upstream for an uncompressed body on rewritten routes, even when the client accepts gzip', async () => {
    const batch = mock.batches.create(REQUESTS, mock.url);
    const path = `/v1/messages/batches/${batch.id}`;
    // A realistic upstream: gzip when the request accepts it.
    mock.route('GET', path, (req) => ({ json: mock.batches.get(batch.id), gzip: /gzip/.test(String(req.headers['accept-encoding'])) }));

    const res = await rawRequest(`${tg.baseURL}${path}`, { headers: { 'x-api-key': 'client-key', 'accept-encoding': 'gzip' } });

    expect([undefined, 'identity']).toContain(mock.requests[0].headers['accept-encoding']);
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(Number(res.headers['content-length'])).toBe(res.body.length);
    expect(JSON.parse(res.body.toString())).toEqual(expectedBatch(batch.id));
  });

  it('rewrites a batch the upstream gzipped anyway', async () => {
    const batch = mock.batches.create(REQUESTS, mock.url);
    const path = `/v1/messages/batches/${batch.id}`;
    mock.route('GET', path, { json: batch, gzip: true });

    const retrieved = await client.messages.batches.retrieve(batch.id);
    const raw = await rawRequest(`${tg.baseURL}${path}`, { headers: { 'x-api-key': 'client-key', 'accept-encoding': 'gzip' } });

    expect(retrieved).toEqual(expectedBatch(batch.id));
    expect(raw.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(raw.body.toString())).toEqual(expectedBatch(batch.id));
  });
});

describe('results_url never comes from an unvetted Host header', () => {
  const create = (url: string, headers: Record<string, string>) =>
    rawRequest(`${url}/anthropic/v1/messages/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'client-key', ...headers },
      body: JSON.stringify({ requests: REQUESTS }),
    });
  const resultsOf = (res: { body: Buffer }) => {
    const batch = JSON.parse(res.body.toString()) as { id: string; results_url: string };
    return { batch, path: `/anthropic/v1/messages/batches/${batch.id}/results` };
  };

  it('a forged Host gets the address the request arrived on, not the Host', async () => {
    const res = await create(tg.url, { host: 'attacker.example:443', 'x-forwarded-proto': 'https' });
    const { batch, path } = resultsOf(res);
    expect(batch.results_url).toBe(`${tg.url}${path}`);
  });

  it('a Host in server.trustedHosts is used (with x-forwarded-proto); any other is not', async () => {
    const trusting = await startGateway({ upstream: mock, config: { server: { trustedHosts: ['GW.internal:8443'] } } });
    try {
      const trusted = resultsOf(await create(trusting.url, { host: 'gw.internal:8443', 'x-forwarded-proto': 'https' }));
      expect(trusted.batch.results_url).toBe(`https://gw.internal:8443${trusted.path}`);
      const other = resultsOf(await create(trusting.url, { host: 'gw.internal:8444', 'x-forwarded-proto': 'https' }));
      expect(other.batch.results_url).toBe(`${trusting.url}${other.path}`);
    } finally {
      await trusting.close();
    }
  });

  it('server.publicUrl wins over any Host', async () => {
    const pub = await startGateway({ upstream: mock, config: { server: { publicUrl: 'https://llm.example.com/', trustedHosts: ['gw.internal'] } } });
    try {
      const { batch, path } = resultsOf(await create(pub.url, { host: 'gw.internal' }));
      expect(batch.results_url).toBe(`https://llm.example.com${path}`);
    } finally {
      await pub.close();
    }
  });
});
