import { startTestGateway, type TestGateway } from '@tollgate/core/testing';
import { createMockUpstream, errorReply, type MockUpstream } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusPlugin } from '../src/plugin.js';
import { parseExposition, type Exposition } from './exposition.js';

describe('metrics of the upstream pool', () => {
  let a: MockUpstream;
  let b: MockUpstream;
  let t: TestGateway;
  let m: Exposition;
  let retryAfterAt: number;

  beforeAll(async () => {
    [a, b] = [await createMockUpstream({ apiKey: 'sk-ant-a' }), await createMockUpstream({ apiKey: 'sk-ant-b' })];
    a.route('POST', '/v1/messages', { ...errorReply('rate_limit_error', 'slow down'), headers: { 'retry-after': '45' } });
    b.route('POST', '/v1/messages', (req) => ({
      json: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-haiku-4-5', content: [], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } },
      headers: { 'anthropic-ratelimit-requests-limit': '1000', 'anthropic-ratelimit-requests-remaining': String(1000 - Number(req.headers['x-n'] ?? 0) * 100) },
    }));
    const upstreams = [
      { name: 'a', baseUrl: a.url, apiKey: 'sk-ant-a' },
      { name: 'b', baseUrl: b.url, apiKey: 'sk-ant-b' },
    ];
    t = await startTestGateway({ upstream: a, plugins: [prometheusPlugin], config: { providers: { anthropic: { apiKey: undefined, upstreams } } } });
    // Without a session, each request takes a weighted random order: send until a was tried.
    for (let n = 1; a.requests.length === 0; n++) {
      const res = await fetch(`${t.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-n': '2' }, body: '{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}' });
      expect(res.status).toBe(200);
      retryAfterAt = Date.now();
      if (n > 50) throw new Error('upstream a never tried');
    }
    m = parseExposition(await (await fetch(`${t.url}/metrics`)).text());
  });
  afterAll(async () => {
    await t.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('counts attempts, 429s and retries per upstream', () => {
    const of = (upstream: string) => ({ provider: 'anthropic', upstream });
    expect(m.value('tollgate_upstream_requests_total', of('a'))).toBe(1);
    expect(m.value('tollgate_upstream_rate_limited_total', of('a'))).toBe(1);
    expect(m.value('tollgate_upstream_retries_total', of('a'))).toBe(1);
    expect(m.value('tollgate_upstream_requests_total', of('b'))).toBe(b.requests.length);
    expect(m.value('tollgate_upstream_rate_limited_total', of('b'))).toBe(0);
  });

  it('shows each upstream state, the cooldown left and the headroom', () => {
    expect(m.find('tollgate_upstream_state', { upstream: 'a' }).filter((s) => s.value === 1).map((s) => s.labels.state)).toEqual(['cooldown']);
    expect(m.value('tollgate_upstream_state', { upstream: 'b', state: 'ok' })).toBe(1);
    const left = m.value('tollgate_upstream_cooldown_seconds', { upstream: 'a' });
    expect(left).toBeGreaterThan(45 - (Date.now() - retryAfterAt) / 1000 - 1);
    expect(left).toBeLessThanOrEqual(45);
    expect(m.value('tollgate_upstream_headroom_ratio', { upstream: 'b' })).toBe(0.8);
    expect(m.find('tollgate_upstream_headroom_ratio', { upstream: 'a' })).toEqual([]);
  });
});
