import { rawRequest } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASTER_KEY, startConsoleHarness, type ConsoleHarness } from './harness.js';

let h: ConsoleHarness;
beforeAll(async () => {
  h = await startConsoleHarness();
});
afterAll(() => h?.close());

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; json: any; text: string }

async function send(path: string, o: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Reply> {
  const res = await rawRequest(`${h.url}${path}`, {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    headers: { ...(o.body === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  });
  const text = res.body.toString();
  return { status: res.status, headers: res.headers, text, json: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : undefined };
}

/** Signs in and returns the cookie header and CSRF token. */
async function signIn(key: string): Promise<{ cookie: string; csrf: string; role: string }> {
  const r = await send('/ui/session', { body: { key } });
  expect(r.status).toBe(200);
  const cookie = String(r.headers['set-cookie']).split(';')[0];
  return { cookie, csrf: r.json.csrf, role: r.json.role };
}

describe('the console page and its assets', () => {
  it('serves the page with a CSP, and every asset from the gateway itself', async () => {
    const page = await send('/ui');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    const refs = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    // The modules app.js imports are preloaded with it, not found one import after another.
    expect(refs.sort()).toEqual(['/ui/app.js', '/ui/style.css', '/ui/vendor/hooks.mjs', '/ui/vendor/htm.mjs', '/ui/vendor/preact.mjs', '/ui/vendor/uplot.css', '/ui/vendor/uplot.js']);
    for (const path of refs) {
      const r = await send(path);
      expect(r.status, path).toBe(200);
      // Nothing loaded from another host (comments may still name a project's home page).
      expect(r.text).not.toMatch(/(?:from\s*["']|import\(\s*["']|url\(\s*["']?|src=["']|href=["'])(?:https?:)?\/\//);
    }
    const hooks = await send('/ui/vendor/hooks.mjs');
    expect(hooks.text).toContain('from"/ui/vendor/preact.mjs"');
    expect(hooks.text).not.toContain('from"preact"');
  });

  it('answers a matching If-None-Match with 304', async () => {
    const first = await send('/ui/app.js');
    const again = await send('/ui/app.js', { headers: { 'if-none-match': String(first.headers.etag) } });
    expect(again.status).toBe(304);
  });
});

describe('sign-in', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie and never returns the key', async () => {
    const r = await send('/ui/session', { body: { key: MASTER_KEY } });
    expect(r.status).toBe(200);
    expect(String(r.headers['set-cookie'])).toMatch(/^tollgate_console=[A-Za-z0-9_-]{43}; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    expect(r.json).toEqual({ role: 'admin', key_alias: null, csrf: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(r.text).not.toContain(MASTER_KEY);
  });

  it('refuses a wrong key with 401 and no cookie', async () => {
    const r = await send('/ui/session', { body: { key: 'sk-wrong' } });
    expect(r.status).toBe(401);
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(r.json.error.type).toBe('authentication_error');
  });

  it('refuses a sign-in posted from another site or as a form (login CSRF)', async () => {
    const cross = await send('/ui/session', { body: { key: MASTER_KEY }, headers: { origin: 'https://evil.example' } });
    expect(cross.status).toBe(403);
    expect(cross.headers['set-cookie']).toBeUndefined();
    const form = await rawRequest(`${h.url}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `key=${MASTER_KEY}` });
    expect(form.status).toBe(400);
  });

  it('needs the cookie for every API call, and ends with sign-out', async () => {
    expect((await send('/ui/api/key/list')).status).toBe(401);
    const s = await signIn(MASTER_KEY);
    expect((await send('/ui/api/key/list', { headers: { cookie: s.cookie } })).status).toBe(200);
    expect((await send('/ui/session', { headers: { cookie: s.cookie } })).json).toEqual({ role: 'admin', key_alias: null, csrf: s.csrf });
    const out = await send('/ui/session/end', { body: {}, headers: { cookie: s.cookie, 'x-tollgate-csrf': s.csrf } });
    expect(out.status).toBe(200);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await send('/ui/api/key/list', { headers: { cookie: s.cookie } })).status).toBe(401);
  });
});

describe('CSRF on state-changing calls', () => {
  const count = async () => (await h.admin<{ total_count: number }>('/key/list')).total_count;

  it('refuses a change without the token, with a wrong one, or from another origin, and makes it with the right one', async () => {
    const s = await signIn(MASTER_KEY);
    const before = await count();
    const body = { key_alias: 'csrf-probe' };
    const none = await send('/ui/api/key/generate', { body, headers: { cookie: s.cookie } });
    const wrong = await send('/ui/api/key/generate', { body, headers: { cookie: s.cookie, 'x-tollgate-csrf': `${s.csrf.slice(1)}x` } });
    const cross = await send('/ui/api/key/generate', { body, headers: { cookie: s.cookie, 'x-tollgate-csrf': s.csrf, origin: 'https://evil.example' } });
    expect([none.status, wrong.status, cross.status]).toEqual([403, 403, 403]);
    expect(await count()).toBe(before);
    const ok = await send('/ui/api/key/generate', { body, headers: { cookie: s.cookie, 'x-tollgate-csrf': s.csrf, origin: h.url } });
    expect(ok.status).toBe(200);
    expect(ok.json.key_alias).toBe('csrf-probe');
    expect(await count()).toBe(before + 1);
  });

  it('does not accept one session\'s token with another session\'s cookie', async () => {
    const a = await signIn(MASTER_KEY);
    const b = await signIn(MASTER_KEY);
    const r = await send('/ui/api/key/generate', { body: { key_alias: 'crossed' }, headers: { cookie: a.cookie, 'x-tollgate-csrf': b.csrf } });
    expect(r.status).toBe(403);
  });
});

describe('a virtual key signed in', () => {
  it('sees only its own spend and requests, and cannot manage keys', async () => {
    const mine = await h.admin<{ key: string; token: string }>('/key/generate', { key_alias: 'scoped-mine' });
    const other = await h.admin<{ key: string; token: string }>('/key/generate', { key_alias: 'scoped-other' });
    const before = (await h.admin<{ total: number }>('/spend/logs?page=1&page_size=1')).total;
    expect(await h.ask(mine.key)).toBe(200);
    expect(await h.ask(mine.key)).toBe(200);
    expect(await h.ask(other.key)).toBe(200);
    await h.ledgerRows(before + 3);

    const s = await signIn(mine.key);
    expect(s.role).toBe('key');
    const headers = { cookie: s.cookie };
    const logs = await send('/ui/api/spend/logs?page=1&page_size=50', { headers });
    expect(logs.status).toBe(200);
    expect(logs.json.total).toBe(2);
    expect(new Set(logs.json.data.map((r: { api_key: string }) => r.api_key))).toEqual(new Set([mine.token]));
    const daily = await send('/ui/api/spend/daily', { headers });
    expect(daily.json).toEqual([{ date: new Date().toISOString().slice(0, 10), spend: 0.021, spend_exact: '0.021', requests: 2, failed_requests: 0, unpriced_requests: 0 }]);
    const report = await send('/ui/api/spend/report?group_by=key', { headers });
    expect(report.json.map((g: { key: string }) => g.key)).toEqual([mine.token]);
    const info = await send('/ui/api/key/info', { headers });
    expect(info.json.info.key_alias).toBe('scoped-mine');

    expect((await send(`/ui/api/spend/logs?api_key=${other.token}`, { headers })).status).toBe(403);
    expect((await send(`/ui/api/key/info?key=${other.token}`, { headers })).status).toBe(403);
    expect((await send('/ui/api/key/list', { headers })).status).toBe(401);
    const made = await send('/ui/api/key/generate', { body: { key_alias: 'by-a-key' }, headers: { ...headers, 'x-tollgate-csrf': s.csrf } });
    expect(made.status).toBe(401);
    expect((await h.admin<{ total_count: number }>('/key/list?key_alias=by-a-key')).total_count).toBe(0);
  });
});
