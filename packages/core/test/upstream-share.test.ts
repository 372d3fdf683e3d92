import { randomUUID } from 'node:crypto';
import { createMockUpstream, errorReply, until, type MockUpstream } from '@tollgate/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from './helpers.js';

const REDIS = 'redis://127.0.0.1:6379';
const body = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });

let mocks: MockUpstream[] = [];
let gateways: TestGateway[] = [];
afterEach(async () => {
  for (const g of gateways) await g.close();
  for (const m of mocks) await m.close();
  [mocks, gateways] = [[], []];
});

describe('upstream cooldowns shared over Redis', () => {
  it('a 429 one replica meets keeps the upstream out on the others, and on a replica started later', async () => {
    const [a, b] = [await createMockUpstream(), await createMockUpstream()];
    mocks.push(a, b);
    const failover = { redisUrl: REDIS, redisKeyPrefix: `test-${randomUUID()}:` };
    const config = { providers: { anthropic: { apiKey: undefined, upstreams: [{ name: 'a', baseUrl: a.url, apiKey: 'k' }, { name: 'b', baseUrl: b.url, apiKey: 'k' }], failover } } };
    const replica = async () => {
      const g = await startGateway({ upstream: a, config });
      gateways.push(g);
      return g;
    };
    const state = async (g: TestGateway, name: string) => (await g.admin('GET', '/health/upstreams')).body.providers.anthropic.find((u: { name: string }) => u.name === name);
    const [one, two] = [await replica(), await replica()];
    a.route('POST', '/v1/messages', { ...errorReply('rate_limit_error', 'slow down'), headers: { 'retry-after': '40' } });
    for (let i = 0; a.requests.length === 0; i++) {
      if (i > 50) throw new Error('a never tried');
      const res = await fetch(`${one.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(200);
    }
    const cooled = await state(one, 'a');
    expect(cooled.state).toBe('cooldown');
    await until(async () => (await state(two, 'a')).state === 'cooldown', 5000);
    expect((await state(two, 'a')).until).toBe(cooled.until);
    const three = await replica();
    await until(async () => (await state(three, 'a')).state === 'cooldown', 5000);
    expect((await state(three, 'a')).until).toBe(cooled.until);
    // The others never asked a: it was out before they tried it.
    for (let i = 0; i < 20; i++) await fetch(`${two.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(a.requests).toHaveLength(1);
  });
});
