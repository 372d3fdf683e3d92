import Anthropic from '@anthropic-ai/sdk';
import { createGateway, GatewayError, parseConfig } from '@tollgate/core';
import { DEFAULT_TEXT } from '@tollgate/testing';
import { afterEach, describe, expect, it } from 'vitest';
import authPlugin from '../src/index.js';
import { MASTER_KEY, startHarness, UPSTREAM_KEY, waitForCompleted, type Harness } from './harness.js';

const PARAMS = { model: 'claude-sonnet-5-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hi' }] };
const MISSING = 'missing API key: send the gateway key in the x-api-key header, as "Authorization: Bearer <key>" or in x-tollgate-key';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Style = 'x-api-key' | 'bearer' | 'none';

/**
 * An SDK client presenting `key` in the given style. This SDK version sends `apiKey` as
 * `Authorization: Bearer`, so the x-api-key style sets the header itself and removes the
 * bearer one. `sent` records the headers the SDK really put on the wire.
 */
function client(h: Harness, style: Style, key = MASTER_KEY): { sdk: Anthropic; sent: Headers[] } {
  const sent: Headers[] = [];
  const recordingFetch: typeof fetch = (input, init) => {
    sent.push(new Headers(init?.headers));
    return fetch(input, init);
  };
  const defaultHeaders: Record<string, string | null> =
    style === 'x-api-key' ? { 'x-api-key': key, authorization: null } : style === 'none' ? { authorization: null } : {};
  const sdk = new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0, fetch: recordingFetch, defaultHeaders });
  return { sdk, sent };
}

async function authError(promise: Promise<unknown>): Promise<InstanceType<typeof Anthropic.AuthenticationError>> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    return err as InstanceType<typeof Anthropic.AuthenticationError>;
  }
  throw new Error('expected an AuthenticationError');
}

function logRecords(h: Harness): Record<string, unknown>[] {
  return h.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
}

function expectUpstreamGotRealKey(h: Harness, index = 0): void {
  const headers = h.mock.requests[index].headers;
  expect(headers['x-api-key']).toBe(UPSTREAM_KEY);
  expect(headers.authorization).toBeUndefined();
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('with a master key', () => {
  const start = async () => (h = await startHarness({ authConfig: { masterKey: MASTER_KEY } }));

  it('accepts it as x-api-key and sends the real upstream key instead', async () => {
    const { sdk, sent } = client(await start(), 'x-api-key');
    const message = await sdk.messages.create(PARAMS);
    expect(message.content).toEqual([{ type: 'text', text: DEFAULT_TEXT }]);
    expect(sent[0].get('x-api-key')).toBe(MASTER_KEY);
    expect(sent[0].get('authorization')).toBeNull();
    expect(h!.mock.requests.length).toBe(1);
    expectUpstreamGotRealKey(h!);
    const [record] = await waitForCompleted(h!, 1);
    expect(record.status).toBe(200);
    expect(record.principal).toEqual({ kind: 'master' });
  });

  it('accepts it as Authorization: Bearer (the SDK apiKey default) and as authToken', async () => {
    const { sdk, sent } = client(await start(), 'bearer');
    await sdk.messages.create(PARAMS);
    expect(sent[0].get('authorization')).toBe(`Bearer ${MASTER_KEY}`);
    expect(sent[0].get('x-api-key')).toBeNull();
    const viaToken = new Anthropic({ authToken: MASTER_KEY, baseURL: h!.baseURL, maxRetries: 0 });
    await viaToken.messages.create(PARAMS);
    expect(h!.mock.requests.length).toBe(2);
    expectUpstreamGotRealKey(h!, 0);
    expectUpstreamGotRealKey(h!, 1);
    const records = await waitForCompleted(h!, 2);
    expect(records.map((r) => r.principal)).toEqual([{ kind: 'master' }, { kind: 'master' }]);
  });

  it('accepts the bearer scheme in any case', async () => {
    await start();
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      const res = await fetch(`${h!.baseURL}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `${scheme} ${MASTER_KEY}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify(PARAMS),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(h!.mock.requests.length).toBe(3);
  });

  it('streams through with the key', async () => {
    const { sdk } = client(await start(), 'x-api-key');
    const final = await sdk.messages.stream(PARAMS).finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: DEFAULT_TEXT }]);
    expectUpstreamGotRealKey(h!);
  });

  it('rejects a request without a key: 401 authentication_error, upstream not called', async () => {
    const { sdk, sent } = client(await start(), 'none');
    const err = await authError(sdk.messages.create(PARAMS));
    expect(sent[0].get('x-api-key')).toBeNull();
    expect(sent[0].get('authorization')).toBeNull();
    expect(err.status).toBe(401);
    expect(err.type).toBe('authentication_error');
    expect(err.error).toEqual({ type: 'error', error: { type: 'authentication_error', message: MISSING }, request_id: expect.stringMatching(UUID) });
    expect(h!.mock.requests.length).toBe(0);
    const [record] = await waitForCompleted(h!, 1);
    expect(record.status).toBe(401);
    expect(record.principal).toBeUndefined();
    expect(record.error).toEqual({ code: 'TG_ERR_AUTH_MISSING_KEY', type: 'authentication_error', message: MISSING });
  });

  it('rejects a wrong key in either header style', async () => {
    await start();
    for (const style of ['x-api-key', 'bearer'] as const) {
      const err = await authError(client(h!, style, 'sk-tg-wrong-key').sdk.messages.create(PARAMS));
      expect(err.status).toBe(401);
      expect(err.type).toBe('authentication_error');
      expect(err.apiMessage).toBe('invalid API key');
    }
    expect(h!.mock.requests.length).toBe(0);
    const records = await waitForCompleted(h!, 2);
    expect(records.map((r) => r.error?.code)).toEqual(['TG_ERR_AUTH_INVALID_KEY', 'TG_ERR_AUTH_INVALID_KEY']);
  });

  it('reads x-api-key before Authorization when both are sent', async () => {
    await start();
    const res = await fetch(`${h!.baseURL}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-tg-wrong-key', authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(PARAMS),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('invalid API key');
  });

  it('never writes the master key, the presented key or the upstream key to the logs or the error body', async () => {
    await start();
    const wrong = 'sk-tg-presented-but-wrong-5521';
    const res = await fetch(`${h!.baseURL}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': wrong, 'content-type': 'application/json' },
      body: JSON.stringify(PARAMS),
    });
    const body = await res.text();
    expect(res.status).toBe(401);
    expect(JSON.parse(body)).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'invalid API key' }, request_id: expect.stringMatching(UUID) });
    await client(h!, 'bearer').sdk.messages.create(PARAMS);
    await client(h!, 'x-api-key').sdk.messages.stream(PARAMS).finalMessage();
    await waitForCompleted(h!, 3);
    const logs = h!.logs;
    await h!.close(); // the shutdown lines are checked too
    h = undefined;
    const access = logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((r) => r.log === 'access');
    expect(access.map((r) => r.status)).toEqual([401, 200, 200]);
    const all = [body, ...logs].join('\n');
    for (const secret of [MASTER_KEY, wrong, UPSTREAM_KEY]) expect(all).not.toContain(secret);
  });

  it('logs where the key came from at boot, not the key', async () => {
    await start();
    const boot = logRecords(h!).filter((r) => r.plugin === 'auth');
    expect(boot).toEqual([{ level: 30, time: expect.any(Number), plugin: 'auth', source: 'config', msg: 'master key required on provider routes' }]);
  });
});

describe('open mode (no master key anywhere)', () => {
  it('warns loudly at boot', async () => {
    h = await startHarness();
    const warnings = logRecords(h).filter((r) => r.level === 40);
    expect(warnings).toEqual([
      {
        level: 40,
        time: expect.any(Number),
        plugin: 'auth',
        msg:
          'OPEN GATEWAY: no master key configured (auth.masterKey, TOLLGATE_MASTER_KEY or LITELLM_MASTER_KEY); ' +
          'anyone who can reach this gateway can spend its upstream API key',
      },
    ]);
  });

  it('accepts any key, or none, and still sends the real upstream key', async () => {
    h = await startHarness();
    await client(h, 'x-api-key', 'sk-whatever-1').sdk.messages.create(PARAMS);
    await client(h, 'bearer', 'sk-whatever-2').sdk.messages.create(PARAMS);
    const res = await fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(PARAMS) });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(h.mock.requests.length).toBe(3);
    for (let i = 0; i < 3; i++) expectUpstreamGotRealKey(h, i);
    const records = await waitForCompleted(h, 3);
    expect(records.map((r) => [r.status, r.principal])).toEqual([
      [200, { kind: 'open' }],
      [200, { kind: 'open' }],
      [200, { kind: 'open' }],
    ]);
  });
});

describe('where the master key comes from', () => {
  const cases: { name: string; env: Record<string, string>; key: string }[] = [
    { name: 'env TOLLGATE_MASTER_KEY', env: { TOLLGATE_MASTER_KEY: 'sk-tg-from-tollgate-env' }, key: 'sk-tg-from-tollgate-env' },
    { name: 'env LITELLM_MASTER_KEY', env: { LITELLM_MASTER_KEY: 'sk-from-litellm-env' }, key: 'sk-from-litellm-env' },
  ];
  for (const c of cases) {
    it(`reads ${c.name}`, async () => {
      h = await startHarness({ env: c.env });
      expect(logRecords(h).find((r) => r.plugin === 'auth')).toMatchObject({ level: 30, source: c.name });
      await client(h, 'bearer', c.key).sdk.messages.create(PARAMS);
      const err = await authError(client(h, 'bearer', MASTER_KEY).sdk.messages.create(PARAMS));
      expect(err.apiMessage).toBe('invalid API key');
      expect(h.mock.requests.length).toBe(1);
    });
  }

  it('prefers TOLLGATE_MASTER_KEY over LITELLM_MASTER_KEY, and the config over both', async () => {
    h = await startHarness({ env: { TOLLGATE_MASTER_KEY: 'sk-tg-env', LITELLM_MASTER_KEY: 'sk-lite-env' } });
    await client(h, 'x-api-key', 'sk-tg-env').sdk.messages.create(PARAMS);
    await authError(client(h, 'x-api-key', 'sk-lite-env').sdk.messages.create(PARAMS));
    await h.close();
    h = await startHarness({ authConfig: { masterKey: MASTER_KEY }, env: { TOLLGATE_MASTER_KEY: 'sk-tg-env' } });
    await client(h, 'x-api-key', MASTER_KEY).sdk.messages.create(PARAMS);
    await authError(client(h, 'x-api-key', 'sk-tg-env').sdk.messages.create(PARAMS));
  });
});

describe('config validation at boot', () => {
  async function bootError(config: Record<string, unknown> | string): Promise<GatewayError> {
    const parsed = typeof config === 'string' ? parseConfig(config, { source: 'gw.yaml', env: {} }) : config;
    try {
      const gw = await createGateway({ config: parsed, modules: { '@tollgate/plugin-auth': authPlugin }, env: {}, logDestination: { write: () => undefined } });
      await gw.close({ graceMs: 0 });
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('TG_ERR_CONFIG');
      return err as GatewayError;
    }
    throw new Error('expected the gateway to refuse the config');
  }

  it('rejects an unknown key in the plugin config', async () => {
    const err = await bootError({ plugins: [{ use: '@tollgate/plugin-auth', config: { masterkey: 'x' } }] });
    // Every mistake at once: the option, and the storage plugin auth needs.
    expect(err.message).toBe('invalid config:\n  <config>: plugins[0].config.masterkey: unknown key "masterkey"\n  plugin "auth" needs plugin "storage", which is not loaded');
  });

  it('names the file, line and column in YAML', async () => {
    const yaml = ['plugins:', "  - use: '@tollgate/plugin-auth'", '    config:', '      masterKey: 42', '      extra: true', ''].join('\n');
    const err = await bootError(yaml);
    expect(err.message).toBe(
      'invalid config:\n  gw.yaml:5:7: plugins[0].config.extra: unknown key "extra"\n  gw.yaml:4:18: plugins[0].config.masterKey: expected string,null, got 42\n  plugin "auth" needs plugin "storage", which is not loaded',
    );
  });

  it('rejects an empty master key rather than running open', async () => {
    const err = await bootError({ plugins: [{ use: '@tollgate/plugin-auth', config: { masterKey: '' } }] });
    expect(err.message).toBe('invalid config:\n  <config>: plugins[0].config.masterKey: must NOT have fewer than 1 characters, got ""\n  plugin "auth" needs plugin "storage", which is not loaded');
  });
});
