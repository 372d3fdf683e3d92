import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminApiError, callAdminApi, GatewayUnreachableError } from './admin-client.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A server on port 0 that records what it got and answers with `reply`. */
async function server(reply: (res: ServerResponse) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const s = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      reply(res);
    });
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen };
}

const json = (status: number, body: unknown) => (res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('callAdminApi', () => {
  it('sends the master key as a bearer token, the query and the JSON body, and keeps a path prefix', async () => {
    const s = await server(json(200, { ok: true }));
    const answer = await callAdminApi(
      { method: 'POST', path: '/key/update', query: { a: 'b c' }, body: { key: 'sk-1', rpm_limit: 5 } },
      { url: `${s.url}/tollgate/`, masterKey: 'sk-master' },
    );
    expect(answer).toEqual({ ok: true });
    expect(s.seen.map(({ method, url, body }) => ({ method, url, body }))).toEqual([
      { method: 'POST', url: '/tollgate/key/update?a=b+c', body: '{"key":"sk-1","rpm_limit":5}' },
    ]);
    expect(s.seen[0].headers.authorization).toBe('Bearer sk-master');
    expect(s.seen[0].headers['content-type']).toBe('application/json');
    expect(s.seen[0].headers['x-api-key']).toBeUndefined();
  });

  it('sends no body and no content-type on GET', async () => {
    const s = await server(json(200, { keys: [] }));
    await callAdminApi({ method: 'GET', path: '/key/list' }, { url: s.url, masterKey: 'sk-master' });
    expect(s.seen[0].url).toBe('/key/list');
    expect(s.seen[0].body).toBe('');
    expect(s.seen[0].headers['content-type']).toBeUndefined();
  });

  it('turns an Anthropic-shaped error into "<status> <type>: <message>"', async () => {
    const s = await server(json(404, { type: 'error', error: { type: 'not_found_error', message: 'no such key' } }));
    const err = await rejection(callAdminApi({ method: 'GET', path: '/key/info', query: { key: 'x' } }, { url: s.url, masterKey: 'sk-master' }));
    expect(err).toBeInstanceOf(AdminApiError);
    expect(err).toMatchObject({ status: 404, type: 'not_found_error', message: '404 not_found_error: no such key' });
  });

  it('says when something that is not a Tollgate gateway answers', async () => {
    const html = await server((res) => res.writeHead(502).end('<html>Bad Gateway</html>'));
    const err = await rejection(callAdminApi({ method: 'GET', path: '/key/list' }, { url: html.url, masterKey: 'k' }));
    expect(err.message).toBe(`502 http_error: GET ${html.url}/key/list did not answer with an API error; is ${html.url} a Tollgate gateway?`);
    const text = await server((res) => res.writeHead(200).end('hello'));
    const ok = await rejection(callAdminApi({ method: 'GET', path: '/key/list' }, { url: text.url, masterKey: 'k' }));
    expect(ok.message).toBe(`200 invalid_response: GET ${text.url}/key/list did not answer with JSON; is ${text.url} a Tollgate gateway?`);
  });

  it('reports a refused connection without the master key', async () => {
    const s = await server(json(200, {}));
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const err = await rejection(callAdminApi({ method: 'GET', path: '/key/list' }, { url: s.url, masterKey: 'sk-secret-master' }));
    expect(err).toBeInstanceOf(GatewayUnreachableError);
    expect(err.message).toBe(`cannot reach the gateway at ${s.url} (ECONNREFUSED); is it running? Set its address with --url or TOLLGATE_URL`);
  });

  it('gives up on a gateway that does not answer', async () => {
    const s = await server(() => undefined);
    const err = await rejection(callAdminApi({ method: 'GET', path: '/key/list' }, { url: s.url, masterKey: 'k', timeoutMs: 100 }));
    expect(err).toBeInstanceOf(GatewayUnreachableError);
    expect(err.message).toBe(`the gateway at ${s.url} did not answer within 100 ms`);
  });
});
