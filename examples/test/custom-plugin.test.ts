import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic, { AuthenticationError, BadRequestError, PermissionDeniedError } from '@anthropic-ai/sdk';
import { loadConfig, parseConfig, resolvePlugins } from '@tollgate/core';
import { authPlugin } from '@tollgate/plugin-auth';
import { storagePlugin } from '@tollgate/storage';
import { createMockUpstream, messageJson, type MockUpstream } from '@tollgate/testing';
import { EXAMPLES, MASTER_KEY, startGateway, UPSTREAM_KEY, type ExampleGateway } from './helpers.js';

const DIR = join(EXAMPLES, 'custom-plugin');
const modules = { '@tollgate/plugin-auth': authPlugin, '@tollgate/storage': storagePlugin };
const params = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'Hi' }] };

let upstream: MockUpstream;
let t: ExampleGateway;
beforeAll(async () => {
  upstream = await createMockUpstream();
  // The example's own YAML, as `tollgate --config examples/custom-plugin/tollgate.yaml` reads it.
  const env = { PORT: '0', HOST: '127.0.0.1', ANTHROPIC_BASE_URL: upstream.url, ANTHROPIC_API_KEY: UPSTREAM_KEY, TOLLGATE_MASTER_KEY: MASTER_KEY, DATABASE_URL: 'file::memory:' };
  const config = await loadConfig(join(DIR, 'tollgate.yaml'), env);
  t = await startGateway({ upstream, config, modules, env });
});
afterAll(async () => {
  await t.close();
  await upstream.close();
});

const client = (headers: Record<string, string> = {}, apiKey = MASTER_KEY) =>
  new Anthropic({ baseURL: `${t.url}/anthropic`, apiKey, maxRetries: 0, defaultHeaders: headers });

describe('examples/custom-plugin (team)', () => {
  it('loads from YAML in the policy band, after auth and the built-in metadata plugin', () => {
    expect(t.gw.plugins).toEqual([
      { name: 'auth', priority: 900 },
      { name: 'metadata', priority: 800 },
      { name: 'team', priority: 700 },
      { name: 'storage', priority: 0 },
    ]);
  });

  it('tags the request with its team, keeps the body tags, and logs onComplete with the reqId', async () => {
    upstream.once('POST', '/v1/messages', { json: messageJson({ text: 'hello' }) });
    const msg = await client({ 'x-team': 'search' }).messages.create({ ...params, litellm_metadata: { tags: ['exp-1'] } } as Anthropic.MessageCreateParamsNonStreaming);
    expect(msg.content).toEqual([{ type: 'text', text: 'hello' }]);
    expect(upstream.requests[0].json()).toEqual(params);

    const [record] = await t.waitForRecords(1);
    expect(record.tags).toEqual(['exp-1', 'team:search']);
    expect(record.state.team).toEqual({ id: 'search', tag: 'team:search' });
    const line = t.logs.find((l) => l.msg === 'team request complete');
    expect(line).toMatchObject({ plugin: 'team', reqId: record.id, team: 'search', status: 200, aborted: false });
  });

  it('rejects a request without the header in Anthropic shape, before the upstream', async () => {
    const before = upstream.requests.length;
    const err = await client().messages.create(params).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).error).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'missing x-team header: name the team making this request' },
      request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(upstream.requests).toHaveLength(before);
  });

  it('refuses a team outside the allow-list with 403 permission_error', async () => {
    const before = upstream.requests.length;
    const err = await client({ 'x-team': 'billing' }).messages.create(params).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect((err as PermissionDeniedError).error).toMatchObject({ error: { type: 'permission_error', message: 'team "billing" may not use this gateway' } });
    expect(upstream.requests).toHaveLength(before);
    const record = t.records.at(-1)!;
    expect([record.status, record.error?.code, record.state.team]).toEqual([403, 'TG_ERR_FORBIDDEN', undefined]);
  });

  it('runs after auth: a wrong key is a 401 whatever the team header says', async () => {
    const err = await client({ 'x-team': 'search' }, 'sk-wrong').messages.create(params).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
  });

  it('has a strict config schema: a misspelt option fails at boot with its line', async () => {
    const yaml = 'plugins:\n  - use: ./plugin.mjs\n    config:\n      alowed: [search]\n';
    const config = parseConfig(yaml, { source: 'team.yaml', baseDir: DIR, env: {} });
    await expect(resolvePlugins(config)).rejects.toMatchObject({
      code: 'TG_ERR_CONFIG',
      message: 'invalid config:\n  team.yaml:4:7: plugins[0].config.alowed: unknown key "alowed"',
    });
  });
});
