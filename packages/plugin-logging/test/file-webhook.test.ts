import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError, loadConfig } from '@tollgate/core';
import { messageJson } from '@tollgate/testing';
import { postMessage, startHarness, UPSTREAM_KEY, type Harness } from './harness.js';
import { startReceiver, until, type Receiver } from './receiver.js';

const CONFIG = `
server: { host: 127.0.0.1, port: 0 }
providers:
  anthropic: { baseUrl: '\${MOCK_URL}', apiKey: '\${UPSTREAM_KEY}' }
plugins:
  - use: '@tollgate/plugin-logging'
    config:
      file:
        - path: logs/requests.jsonl
          flushIntervalMs: 20
      webhook:
        - name: hook
          url: '\${HOOK_URL}/ingest'
          headers: { x-hook-token: '\${HOOK_TOKEN}' }
          batchSize: 3
          flushIntervalMs: 60000
`;

describe('file and webhook sinks, configured from YAML', () => {
  let dir: string;
  let hook: Receiver;
  let h: Harness;
  let file: string;
  const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-logging-'));
    hook = await startReceiver();
    await writeFile(join(dir, 'tollgate.yaml'), CONFIG);
    file = join(dir, 'logs', 'requests.jsonl');
    h = await startHarness({
      config: (upstreamUrl) => loadConfig(join(dir, 'tollgate.yaml'), { MOCK_URL: upstreamUrl, UPSTREAM_KEY, HOOK_URL: hook.url, HOOK_TOKEN: 'tok-123' }),
    });
    for (const [i, user] of users.entries()) {
      h.mock.once('POST', '/v1/messages', { json: messageJson({ id: `msg_${i}`, usage: { input_tokens: 10 + i, output_tokens: 20 + i } }) });
      const params = { model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }], litellm_metadata: { user, tags: [`n:${i}`] } };
      expect((await postMessage(h.baseURL, params, 'unused')).status).toBe(200);
    }
  });
  afterAll(async () => {
    await h?.close();
    await hook?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the file (relative to the config file) gets one JSON object per request', async () => {
    await until(async () => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length === users.length);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(h.completed.map((r) => r.id));
    const r = h.completed[2];
    expect(lines[2]).toEqual({
      id: r.id,
      time: new Date(r.timings.start).toISOString(),
      method: 'POST',
      path: '/anthropic/v1/messages',
      provider: 'anthropic',
      route: 'messages',
      model: 'claude-haiku-4-5',
      responseId: r.response!.id,
      responseModel: 'claude-sonnet-4-5-20250929',
      stream: false,
      status: 200,
      endUser: 'u3',
      tags: ['n:2'],
      usage: { inputTokens: 12, outputTokens: 22, cacheReadTokens: 0, cacheWriteTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, webSearchRequests: 0, serviceTier: 'standard' },
      upstreamRequestId: r.upstreamRequestId,
      timings: JSON.parse(JSON.stringify(r.timings)),
    });
    expect(r.upstreamRequestId).toMatch(/^req_/);
    expect(r.response!.id).toMatch(/^msg_/);
  });

  it('the webhook gets full batches at once, as JSON arrays with its headers; the rest waits', async () => {
    await until(() => hook.posts.length === 2);
    expect(hook.posts.map((p) => p.path)).toEqual(['/ingest', '/ingest']);
    expect(hook.posts.map((p) => p.body.map((e: { endUser: string }) => e.endUser))).toEqual([
      ['u1', 'u2', 'u3'],
      ['u4', 'u5', 'u6'],
    ]);
    expect(hook.posts[0].headers['x-hook-token']).toBe('tok-123');
    expect(hook.posts[0].body[0]).toMatchObject({ id: h.completed[0].id, usage: { inputTokens: 10, outputTokens: 20 }, tags: ['n:0'] });
    expect(h.stat('hook')).toMatchObject({ type: 'webhook', sent: 6, queueDepth: 1, dropped: 0 });
    expect(h.stat('file')).toMatchObject({ type: 'file', sent: 7, queueDepth: 0 });
  });

  it('closing the gateway flushes the partial batch', async () => {
    await h.close();
    expect(hook.posts).toHaveLength(3);
    expect(hook.posts[2].body.map((e: { endUser: string }) => e.endUser)).toEqual(['u7']);
    expect(h.stat('hook')).toMatchObject({ sent: 7, queueDepth: 0, dropped: 0 });
    const flushed = h.logs.find((l) => l.msg === 'export sinks flushed');
    expect(flushed?.sinks.map((s: { name: string; sent: number }) => [s.name, s.sent])).toEqual([
      ['file', 7],
      ['hook', 7],
    ]);
  });
});

describe('logging config', () => {
  it('rejects unknown fields and two sinks with one name at boot', async () => {
    await expect(startHarness({ logging: { file: [{ path: 'x.jsonl', flushMs: 5 }] } })).rejects.toThrow(/flushMs/);
    const twice = startHarness({ logging: { file: [{ path: 'a.jsonl', name: 'same' }], webhook: [{ url: 'http://127.0.0.1:1', name: 'same' }] } });
    await expect(twice).rejects.toBeInstanceOf(GatewayError);
    await expect(twice).rejects.toThrow(/two sinks are named "same"/);
  });

  it('refuses a sink URL with credentials in it, without repeating them', async () => {
    const cases = [
      [{ otlp: [{ endpoint: 'http://user:s3cret-pw@127.0.0.1:1/' }] }, 'logging: otlp[0].endpoint has credentials in it'],
      [{ webhook: [{ url: 'http://127.0.0.1:1/a' }, { url: 'https://s3cret-pw@127.0.0.1:1/b' }] }, 'logging: webhook[1].url has credentials in it'],
    ] as const;
    for (const [logging, message] of cases) {
      const err = (await startHarness({ logging }).catch((e: unknown) => e)) as GatewayError;
      expect(err).toBeInstanceOf(GatewayError);
      expect(err.message).toContain(message);
      expect(err.message).not.toContain('s3cret');
    }
  });
});
