import { describe, expect, it } from 'vitest';
import { createMockUpstream } from '@tollgate/testing';
import { startTestGateway, TEST_UPSTREAM_KEY } from './testing.js';

describe('startTestGateway', () => {
  it('forwards to the given upstream with the test key, keeps records, and runs cleanup on close', async () => {
    const mock = await createMockUpstream();
    const steps: string[] = [];
    const t = await startTestGateway({ upstream: mock, cleanup: [() => void steps.push('db'), () => mock.close().then(() => void steps.push('mock'))] });
    const res = await fetch(`${t.baseURL}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-any', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(mock.requests.at(-1)!.headers['x-api-key']).toBe(TEST_UPSTREAM_KEY);
    expect((await t.waitForRecords(1)).map((r) => [r.status, r.model])).toEqual([[200, 'claude-haiku-4-5']]);
    expect(t.logs.some((l) => l.includes('"log":"access"'))).toBe(true);
    await t.close();
    expect(steps).toEqual(['db', 'mock']);
  });

  it('runs cleanup when the gateway fails to start', async () => {
    const steps: string[] = [];
    await expect(startTestGateway({ upstream: { url: 'http://127.0.0.1:9' }, config: { nope: 1 }, cleanup: [() => void steps.push('cleaned')] })).rejects.toThrow(/nope/);
    expect(steps).toEqual(['cleaned']);
  });
});
