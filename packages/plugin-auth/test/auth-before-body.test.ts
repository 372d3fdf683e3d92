import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { definePlugin } from '@tollgate/core';
import { afterEach, describe, expect, it } from 'vitest';
import { MASTER_KEY, startHarness, type Harness } from './harness.js';

const BODY_BYTES = 30 * 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 0x20);

/** Keeps the gateway's side of each request's connection, to read how many bytes it took in. */
function socketSpy(sockets: Socket[]) {
  return definePlugin({ name: 'socket-spy', priority: 1000, setup: () => ({ onRequestHeaders: (ctx) => void sockets.push(ctx.raw.req.socket) }) });
}

/**
 * Sends a request with a 30 MB body over a raw socket as fast as the gateway takes it, until
 * the gateway answers and closes. Returns the response text and the body bytes written.
 */
function sendBig(url: string, headers: Record<string, string>): Promise<{ response: string; written: number }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const sock = connect(Number(port), '127.0.0.1');
    let response = '';
    let written = 0;
    let closed = false;
    sock.on('data', (d: Buffer) => (response += d.toString('latin1')));
    sock.on('error', () => undefined); // EPIPE/ECONNRESET once the gateway closes: expected
    sock.on('close', () => {
      closed = true;
      resolve({ response, written });
    });
    const head = Object.entries({ ...headers, 'content-length': String(BODY_BYTES) }).map(([k, v]) => `${k}: ${v}\r\n`);
    sock.write(`POST /anthropic/v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n${head.join('')}\r\n`);
    const pump = () => {
      while (!closed && written < BODY_BYTES) {
        written += CHUNK.length;
        if (!sock.write(CHUNK)) return void sock.once('drain', pump);
      }
    };
    pump();
  });
}

describe('authentication before the body', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('answers a keyless 30 MB request 401 from its headers and closes without reading the body', async () => {
    const sockets: Socket[] = [];
    h = await startHarness({ authConfig: { masterKey: MASTER_KEY }, plugins: [socketSpy(sockets)] });
    const { response } = await sendBig(h.url, { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' });
    expect(response).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(response.toLowerCase()).toContain('connection: close');
    expect(response).toContain('"type":"authentication_error"');
    expect(sockets).toHaveLength(1);
    // Headers plus what the socket had buffered when the answer went out; not the 30 MB.
    expect(sockets[0]!.bytesRead).toBeLessThan(2 * 1024 * 1024);
    const [record] = await h.waitForRecords(1);
    expect([record!.status, record!.error?.code]).toEqual([401, 'TG_ERR_AUTH_MISSING_KEY']);
    expect(h.mock.requests).toHaveLength(0);
  });

  it('keeps the connection alive after a 401 to a small body (discarded, not worth a reconnect)', async () => {
    const sockets: Socket[] = [];
    h = await startHarness({ authConfig: { masterKey: MASTER_KEY }, plugins: [socketSpy(sockets)] });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x'.repeat(10_000) }] });
    const send = () =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const req = httpRequest(`${h!.baseURL}/v1/messages`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      expect(await send()).toEqual({ status: 401, connection: 'keep-alive' });
      expect(await send()).toEqual({ status: 401, connection: 'keep-alive' });
    } finally {
      agent.destroy();
    }
    expect(sockets).toHaveLength(2);
    expect(sockets[1]).toBe(sockets[0]);
  });

  it('reads the body once the key is good', async () => {
    const sockets: Socket[] = [];
    h = await startHarness({ authConfig: { masterKey: MASTER_KEY }, plugins: [socketSpy(sockets)] });
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x'.repeat(3 * 1024 * 1024) }] });
    const res = await fetch(`${h.baseURL}/v1/messages`, { method: 'POST', headers: { 'x-api-key': MASTER_KEY, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(sockets[0]!.bytesRead).toBeGreaterThan(3 * 1024 * 1024);
    expect(h.mock.requests[0]!.body.length).toBe(Buffer.byteLength(body));
  });
});
