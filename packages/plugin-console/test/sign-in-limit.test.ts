import { rawRequest } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASTER_KEY, startConsoleHarness, type ConsoleHarness } from './harness.js';

// Two gateways with the default limit (10 failures a minute per address): one that takes the
// client's address from x-forwarded-for, as behind a proxy, so each test has addresses of its
// own; one that uses the connection's address and ignores the header.
let proxied: ConsoleHarness;
let direct: ConsoleHarness;
beforeAll(async () => {
  [proxied, direct] = await Promise.all([startConsoleHarness({ clientAddressHeader: 'x-forwarded-for' }), startConsoleHarness()]);
});
afterAll(async () => {
  await proxied?.close();
  await direct?.close();
});

async function signIn(h: ConsoleHarness, key: string, from?: string) {
  const res = await rawRequest(`${h.url}/ui/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(from ? { 'x-forwarded-for': from } : {}) },
    body: JSON.stringify({ key }),
  });
  return { status: res.status, headers: res.headers, json: JSON.parse(res.body.toString()) };
}

describe('failed console sign-ins per client address', () => {
  it('answers 429 with retry-after after 10 wrong keys, and does not count right ones', async () => {
    const from = '198.51.100.7, 203.0.113.1'; // the proxy appended the last one
    for (let i = 0; i < 9; i++) expect((await signIn(proxied, `sk-guess-${i}`, from)).status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await signIn(proxied, MASTER_KEY, from)).status).toBe(200);
    expect((await signIn(proxied, 'sk-guess-9', from)).status).toBe(401);

    const refused = await signIn(proxied, 'sk-guess-10', from);
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: expect.stringMatching(/^too many failed sign-ins from this address: try again in \d+ s$/) } });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers['set-cookie']).toBeUndefined();
    // Blocked means blocked: the right key too, or guessing would go on at full speed.
    expect((await signIn(proxied, MASTER_KEY, from)).status).toBe(429);
    // Another address is not.
    expect((await signIn(proxied, MASTER_KEY, '203.0.113.2')).status).toBe(200);
  });

  it('counts parallel guesses before any is answered', async () => {
    const statuses = await Promise.all(Array.from({ length: 25 }, (_, i) => signIn(proxied, `sk-parallel-${i}`, '203.0.113.3').then((r) => r.status)));
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });

  it('counts an IPv6 client per /64', async () => {
    for (let i = 0; i < 10; i++) expect((await signIn(proxied, `sk-v6-${i}`, `2001:db8:1:2::${i + 1}`)).status).toBe(401);
    expect((await signIn(proxied, 'sk-v6', '2001:db8:1:2:ffff::1')).status).toBe(429);
    expect((await signIn(proxied, MASTER_KEY, '2001:db8:1:3::1')).status).toBe(200);
  });

  it('ignores x-forwarded-for unless told to trust it', async () => {
    for (let i = 0; i < 10; i++) expect((await signIn(direct, `sk-spoof-${i}`, `192.0.2.${i}`)).status).toBe(401);
    expect((await signIn(direct, MASTER_KEY, '192.0.2.200')).status).toBe(429);
  });
});
