import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { authPlugin } from '@tollgate/plugin-auth';
import { storagePlugin } from '@tollgate/storage';
import { createMockUpstream, messageJson, messageStreamEvents, serializeSseEvents, type MockUpstream } from '@tollgate/testing';
import { EXAMPLES, MASTER_KEY, runScript, startGateway, UPSTREAM_KEY, type ExampleGateway } from './helpers.js';

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
afterEach(() => {
  upstream.reset();
  t.records.length = 0;
});

const script = (name: string) => join(EXAMPLES, 'curl', name);
const env = () => ({ TOLLGATE_URL: t.url, TOLLGATE_KEY: MASTER_KEY, TOLLGATE_MODEL: 'claude-haiku-4-5' });

describe('examples/curl', () => {
  it('messages.sh sends the message unchanged and prints the answer', async () => {
    const answer = messageJson({ model: 'claude-haiku-4-5', text: 'Hello there, how are you?' });
    upstream.once('POST', '/v1/messages', { json: answer });
    const run = await runScript(script('messages.sh'), env());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(answer);
    const [sent] = upstream.requests;
    expect(sent.json()).toEqual({ model: 'claude-haiku-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Say hello in five words.' }] });
    // Byte for byte: curl's own formatting reaches the upstream, not a re-serialization.
    expect(sent.body.toString()).toContain('\n  "max_tokens": 256,\n');
    expect([sent.headers['anthropic-version'], sent.headers['x-api-key']]).toEqual(['2023-06-01', UPSTREAM_KEY]);
    const [record] = await t.waitForRecords(1);
    expect(record).toMatchObject({ status: 200, routeKind: 'messages', model: 'claude-haiku-4-5', stream: false, principal: { kind: 'master' } });
  });

  it('stream.sh relays every server-sent event', async () => {
    const events = messageStreamEvents({ model: 'claude-haiku-4-5', text: ['One,', ' two,', ' three.'] });
    upstream.once('POST', '/v1/messages', { sse: events, split: 7 });
    const run = await runScript(script('stream.sh'), env());
    expect(run.code).toBe(0);
    // Byte for byte, whatever the chunking upstream.
    expect(run.stdout).toBe(serializeSseEvents(events));
    expect(upstream.requests[0].json()).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 256,
      stream: true,
      messages: [{ role: 'user', content: 'Count from one to five.' }],
    });
    const [record] = await t.waitForRecords(1);
    // 'One, two, three.' is 16 characters: the mock counts ceil(16 / 4) output tokens.
    expect([record.stream, record.usage?.outputTokens]).toEqual([true, 4]);
  });

  it('metadata.sh: litellm_metadata is read and stripped, metadata.user_id is forwarded', async () => {
    upstream.once('POST', '/v1/messages', { json: messageJson() });
    const run = await runScript(script('metadata.sh'), env());
    expect(run.code).toBe(0);
    // Byte for byte as curl sent it, but for the litellm_metadata member.
    expect(upstream.requests[0].body.toString()).toBe(
      [
        '{',
        '  "model": "claude-haiku-4-5",',
        '  "max_tokens": 256,',
        '  "messages": [{ "role": "user", "content": "Suggest a name for a search feature." }],',
        '  "metadata": { "user_id": "user-4821" }',
        '}',
        '',
      ].join('\n'),
    );
    const [record] = await t.waitForRecords(1);
    expect([record.tags, record.endUser]).toEqual([['search', 'experiment-7'], 'customer-acme']);
  });

  it('exits non-zero and prints the Anthropic-shaped error when the key is wrong', async () => {
    const run = await runScript(script('messages.sh'), { ...env(), TOLLGATE_KEY: 'sk-wrong' });
    expect(run.code).toBe(22);
    expect(JSON.parse(run.stdout)).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: 'invalid API key' } });
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses to run without TOLLGATE_KEY', async () => {
    const run = await runScript(script('stream.sh'), { TOLLGATE_URL: t.url });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('set TOLLGATE_KEY');
    expect(upstream.requests).toHaveLength(0);
  });
});
