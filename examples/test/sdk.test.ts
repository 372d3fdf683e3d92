import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authPlugin } from '@tollgate/plugin-auth';
import { storagePlugin } from '@tollgate/storage';
import { createMockUpstream, estimateInputTokens, messageJson, messageStreamEvents, type MockUpstream } from '@tollgate/testing';
import { main } from '../sdk/messages.mjs';
import { MASTER_KEY, startGateway, UPSTREAM_KEY, type ExampleGateway } from './helpers.js';

let upstream: MockUpstream;
let t: ExampleGateway;
beforeAll(async () => {
  upstream = await createMockUpstream();
  t = await startGateway({ upstream, plugins: [{ plugin: storagePlugin, config: { url: 'file::memory:' } }, authPlugin] });
});
afterAll(async () => {
  await t.close();
  await upstream.close();
});

describe('examples/sdk/messages.mjs', () => {
  it('sends a message, streams one and counts tokens through the gateway', async () => {
    const model = 'claude-haiku-4-5';
    upstream.once('POST', '/v1/messages', { json: messageJson({ model, text: 'Hello, friend, nice to meet!', usage: { input_tokens: 14, output_tokens: 9 } }) });
    upstream.once('POST', '/v1/messages', { sse: messageStreamEvents({ model, text: ['One', ', two', ', three'], usage: { input_tokens: 12, output_tokens: 6 } }), split: 11 });
    let printed = '';
    const result = await main({ url: t.url, key: MASTER_KEY, model, out: { write: (s: string) => (printed += s) } });

    expect(printed).toBe(
      [
        'message: Hello, friend, nice to meet!',
        'usage: 14 in, 9 out',
        'stream: One, two, three',
        'stream usage: 12 in, 6 out',
        `count_tokens: ${estimateInputTokens({ messages: [{ role: 'user', content: 'How many tokens is this?' }] })}`,
        '',
      ].join('\n'),
    );
    expect(result.streamed.content).toEqual([{ type: 'text', text: 'One, two, three' }]);

    // What the upstream saw: the SDK's requests, with the gateway's upstream key instead of the client's.
    const sent = upstream.requests;
    expect(sent.map((r) => [r.method, r.path.split('?')[0], r.headers['x-api-key']])).toEqual([
      ['POST', '/v1/messages', UPSTREAM_KEY],
      ['POST', '/v1/messages', UPSTREAM_KEY],
      ['POST', '/v1/messages/count_tokens', UPSTREAM_KEY],
    ]);
    // The SDK's own anthropic-version (its default, whatever its release) passes through.
    expect(sent.map((r) => r.headers['anthropic-version'])).toEqual(Array(3).fill(expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/)));
    expect(sent[1].json()).toEqual({ model, max_tokens: 256, messages: [{ role: 'user', content: 'Count from one to five.' }], stream: true });

    const records = await t.waitForRecords(3);
    expect(records.map((r) => [r.routeKind, r.stream, r.status, r.usage?.inputTokens, r.usage?.outputTokens])).toEqual([
      ['messages', false, 200, 14, 9],
      ['messages', true, 200, 12, 6],
      ['count_tokens', false, 200, undefined, undefined],
    ]);
  });

  it('will not fall back to ANTHROPIC_API_KEY when no gateway key is given', async () => {
    const before = upstream.requests.length;
    const saved = process.env.TOLLGATE_KEY;
    delete process.env.TOLLGATE_KEY;
    try {
      await expect(main({ url: t.url })).rejects.toThrow('set TOLLGATE_KEY');
    } finally {
      if (saved !== undefined) process.env.TOLLGATE_KEY = saved;
    }
    expect(upstream.requests).toHaveLength(before);
  });
});
