import { afterEach, beforeEach, describe, it, expect } from 'vitest';
import { BATCH_RESULTS_CONTENT_TYPE, MessageBatchStore, type MessageBatch } from './message-batches.js';
import { createMockUpstream, type MockUpstream } from './mock-upstream.js';

let mock: MockUpstream;

beforeEach(async () => {
  mock = await createMockUpstream();
});

afterEach(async () => {
  await mock.close();
});

const batchBody = {
  requests: [
    { custom_id: 'ok-1', params: { model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] } },
    { custom_id: 'err-2', params: { model: 'claude-test', max_tokens: 8, messages: [] } },
  ],
};

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${mock.url}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
}

describe('message batches', () => {
  it('runs the full lifecycle: create, get, list, results, cancel, delete', async () => {
    const created = await call('POST', '/v1/messages/batches', batchBody);
    expect(created.status).toBe(200);
    const batch = (await created.json()) as MessageBatch;
    expect(batch).toEqual({
      id: expect.stringMatching(/^msgbatch_[0-9a-f]{24}$/),
      type: 'message_batch',
      processing_status: 'ended',
      request_counts: { processing: 0, succeeded: 1, errored: 1, canceled: 0, expired: 0 },
      ended_at: batch.created_at,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      expires_at: new Date(Date.parse(batch.created_at) + 86_400_000).toISOString(),
      cancel_initiated_at: null,
      archived_at: null,
      results_url: `${mock.url}/v1/messages/batches/${batch.id}/results`,
    });

    expect(await (await call('GET', `/v1/messages/batches/${batch.id}`)).json()).toEqual(batch);

    const second = (await (await call('POST', '/v1/messages/batches', { requests: [batchBody.requests[0]] })).json()) as MessageBatch;
    expect(await (await call('GET', '/v1/messages/batches')).json()).toEqual({
      data: [second, batch],
      has_more: false,
      first_id: second.id,
      last_id: batch.id,
    });

    const results = await fetch(batch.results_url!);
    expect(results.headers.get('content-type')).toBe(BATCH_RESULTS_CONTENT_TYPE);
    const text = await results.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines).toEqual([
      {
        custom_id: 'ok-1',
        result: {
          type: 'succeeded',
          message: {
            id: expect.stringMatching(/^msg_/),
            type: 'message',
            role: 'assistant',
            model: 'claude-test',
            content: [{ type: 'text', text: 'Hello from mock' }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: {
              input_tokens: 11,
              cache_creation_input_tokens: 0,
              cache_read_input_tokens: 0,
              cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
              output_tokens: 4,
              service_tier: 'batch',
            },
          },
        },
      },
      {
        custom_id: 'err-2',
        result: {
          type: 'errored',
          error: { type: 'error', error: { type: 'invalid_request_error', message: 'mock error for request err-2' } },
        },
      },
    ]);

    const canceled = await call('POST', `/v1/messages/batches/${batch.id}/cancel`);
    expect(await canceled.json()).toEqual(batch); // already ended: unchanged

    const deleted = await call('DELETE', `/v1/messages/batches/${batch.id}`);
    expect(await deleted.json()).toEqual({ id: batch.id, type: 'message_batch_deleted' });
    expect((await call('GET', `/v1/messages/batches/${batch.id}`)).status).toBe(404);
  });

  it('answers 404 for unknown batch ids', async () => {
    for (const [method, suffix] of [['GET', ''], ['GET', '/results'], ['POST', '/cancel'], ['DELETE', '']]) {
      const res = await call(method, `/v1/messages/batches/msgbatch_nope${suffix}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        type: 'error',
        error: { type: 'not_found_error', message: 'Batch not found: msgbatch_nope' },
      });
    }
  });

  it('rejects malformed batch bodies with 400', async () => {
    const empty = await call('POST', '/v1/messages/batches', { requests: [] });
    expect(empty.status).toBe(400);
    const bad = await call('POST', '/v1/messages/batches', { requests: [{ custom_id: 'a', params: { model: 'm' } }, { custom_id: 1 }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'requests.1: custom_id (string) and params (object) are required' },
    });
  });

  it('reset() forgets batches', async () => {
    const batch = (await (await call('POST', '/v1/messages/batches', batchBody)).json()) as MessageBatch;
    mock.reset();
    expect((await call('GET', `/v1/messages/batches/${batch.id}`)).status).toBe(404);
  });
});

describe('MessageBatchStore', () => {
  it("moves in-progress batches to 'canceling' on cancel", () => {
    const store = new MessageBatchStore();
    const batch = store.create([{ custom_id: 'a', params: {} }], 'http://x');
    batch.processing_status = 'in_progress';
    const canceled = store.cancel(batch.id);
    expect(canceled?.processing_status).toBe('canceling');
    expect(canceled?.cancel_initiated_at).toMatch(/Z$/);
    expect(store.cancel('missing')).toBe(undefined);
  });

  it('holds new batches in progress until end(), and ends a canceling batch with canceled results', async () => {
    mock.batches.holdNew = true;
    const held = (await (await call('POST', '/v1/messages/batches', batchBody)).json()) as MessageBatch;
    expect(held).toMatchObject({ processing_status: 'in_progress', ended_at: null, results_url: null });
    expect(held.request_counts.processing).toBe(batchBody.requests.length);
    const early = await call('GET', `/v1/messages/batches/${held.id}/results`);
    expect(early.status).toBe(400);
    expect(((await early.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');

    mock.batches.end(held.id);
    const ended = (await (await call('GET', `/v1/messages/batches/${held.id}`)).json()) as MessageBatch;
    expect(ended).toMatchObject({ processing_status: 'ended', results_url: `${mock.url}/v1/messages/batches/${held.id}/results` });
    expect(ended.ended_at).toMatch(/Z$/);
    expect((await (await fetch(ended.results_url!)).text()).trim().split('\n')).toHaveLength(batchBody.requests.length);

    const canceling = (await (await call('POST', '/v1/messages/batches', batchBody)).json()) as MessageBatch;
    await call('POST', `/v1/messages/batches/${canceling.id}/cancel`);
    const canceled = mock.batches.end(canceling.id)!;
    expect(canceled.request_counts).toEqual({ processing: 0, succeeded: 0, errored: 0, canceled: batchBody.requests.length, expired: 0 });
    const lines = (await (await fetch(canceled.results_url!)).text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.result)).toEqual(batchBody.requests.map(() => ({ type: 'canceled' })));
    mock.reset();
    expect(mock.batches.holdNew).toBe(false);
  });
});
