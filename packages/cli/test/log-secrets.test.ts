import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMockUpstream, errorReply, rawRequest, type MockUpstream } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, killAll, spawnCli } from './cli-process.js';

/**
 * A gateway run at LOG_LEVEL=debug through good, bad, malformed and failing requests, then
 * every byte it logged is searched for every secret: as text, base64 and a byte array (how
 * pino writes a Buffer, e.g. the raw request node:http attaches to a parse error).
 */
const UPSTREAM_KEY = 'sk-ant-upstream-logscan-5b1d9e2f7a';
const MASTER_KEY = 'sk-tg-master-logscan-c4e8a1907d';
const WRONG_MASTER = 'sk-tg-master-logscan-wrong-0f3b62';
const WRONG_KEY = 'sk-tg-wrong-logscan-7d21c5e9aa';
const CLIENT_CREDENTIAL = 'sk-ant-api03-client-own-logscan-91ac3e';
const BODY = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
const LISTENING = /^tollgate listening on (http:\/\/127\.0\.0\.1:(\d+))$/;

/** Every way a secret may sit in a log line. */
function forms(secret: string): string[] {
  const bytes = [...Buffer.from(secret)];
  const out = [secret, bytes.join(','), Buffer.from(secret).toString('hex')];
  // base64 of the secret at each of the three alignments it can have inside a longer value.
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k, 0x20), Buffer.from(secret)]).toString('base64');
    out.push(enc.slice(k === 0 ? 0 : 4, -4));
  }
  return out;
}

/** Raw bytes on a new connection; resolves with what came back when the server closes it. */
function rawHttp(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (got += c));
    socket.on('close', () => resolve(got));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(got) : reject(err)));
  });
}

let mock: MockUpstream;
let dir: string;
beforeAll(async () => {
  ensureBuilt();
  mock = await createMockUpstream();
  dir = await mkdtemp(join(tmpdir(), 'tollgate-logscan-'));
});
afterAll(async () => {
  await killAll();
  await mock.close();
  await rm(dir, { recursive: true, force: true });
});

describe('secrets in logs', () => {
  it('no credential appears in any log output at debug level, in any encoding', async () => {
    const cli = spawnCli(['--port', '0', '--host', '127.0.0.1'], {
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: UPSTREAM_KEY,
      TOLLGATE_MASTER_KEY: MASTER_KEY,
      TOLLGATE_DATA_DIR: dir,
      LOG_LEVEL: 'debug',
    });
    const [, url, port] = await cli.waitForStderr(LISTENING);
    const post = (headers: Record<string, string>, body = BODY, path = '/anthropic/v1/messages') =>
      rawRequest(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const admin = (path: string, body?: unknown, key = MASTER_KEY) =>
      rawRequest(`${url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const statuses: [string, number][] = [];
    const note = async (name: string, res: Promise<{ status: number }>) => statuses.push([name, (await res).status]);

    await note('master key', post({ 'x-api-key': MASTER_KEY }));
    const created = await admin('/key/generate', { key_alias: 'scan-1' });
    const virtualKey = (JSON.parse(created.body.toString()) as { key: string }).key;
    const blocked = (JSON.parse((await admin('/key/generate', { key_alias: 'scan-2' })).body.toString()) as { key: string }).key;
    await note('virtual key', post({ 'x-api-key': virtualKey }));
    await note('virtual key as bearer, streamed', post({ authorization: `Bearer ${virtualKey}` }, JSON.stringify({ ...JSON.parse(BODY), stream: true })));
    await note('wrong key', post({ 'x-api-key': WRONG_KEY }));
    await note('client credential', post({ authorization: `Bearer ${CLIENT_CREDENTIAL}` }));
    await note('key info', admin(`/key/info?key=${encodeURIComponent(virtualKey)}`));
    await note('block', admin('/key/block', { key: blocked }));
    await note('blocked key', post({ 'x-api-key': blocked }));
    await note('wrong master', admin('/key/list', undefined, WRONG_MASTER));
    await note('invalid JSON', post({ 'x-api-key': virtualKey }, '{"model":'));
    await note('bad encoding', post({ 'x-api-key': virtualKey, 'content-encoding': 'zstd' }));
    await note('metrics', admin('/metrics'));
    await note('metrics, wrong key', admin('/metrics', undefined, WRONG_KEY));
    mock.once('POST', '/v1/messages', errorReply('api_error', 'upstream exploded'));
    await note('upstream 500', post({ 'x-api-key': virtualKey }));
    mock.once('POST', '/v1/messages', errorReply('authentication_error', 'invalid x-api-key'));
    await note('upstream 401', post({ 'x-api-key': virtualKey }));
    mock.once('POST', '/v1/messages', { hangUp: true });
    await note('upstream hang-up', post({ 'x-api-key': virtualKey }));

    // Malformed HTTP that carries credentials: node's parser refuses it with the raw bytes attached.
    const creds = `x-api-key: ${virtualKey}\r\nauthorization: Bearer ${CLIENT_CREDENTIAL}\r\n`;
    const malformed = [
      `POST /anthropic/v1/messages HTTP/1.1\r\nhost: gw\r\n${creds}bad header line\r\n\r\n`,
      `POST /anthropic/v1/messages HTTP/1.1\r\nhost: gw\r\n${creds}x-bad: a\x01b\r\n\r\n`,
      `GET /key/list HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer ${MASTER_KEY}\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n`,
      `POST /anthropic/v1/messages HTTP/1.1\r\nhost: gw\r\n${creds}x-pad: ${'p'.repeat(20_000)}\r\n\r\n`,
    ];
    const answers = [];
    for (const text of malformed) answers.push((await rawHttp(Number(port), text)).split('\r\n')[0]);

    expect(statuses).toEqual([
      ['master key', 200],
      ['virtual key', 200],
      ['virtual key as bearer, streamed', 200],
      ['wrong key', 401],
      ['client credential', 401],
      ['key info', 200],
      ['block', 200],
      ['blocked key', 401],
      ['wrong master', 401],
      ['invalid JSON', 400],
      ['bad encoding', 415],
      ['metrics', 200],
      ['metrics, wrong key', 401],
      ['upstream 500', 500],
      ['upstream 401', 401],
      ['upstream hang-up', 502],
    ]);
    expect(answers).toEqual(['HTTP/1.1 400 Bad Request', 'HTTP/1.1 400 Bad Request', 'HTTP/1.1 400 Bad Request', 'HTTP/1.1 431 Request Header Fields Too Large']);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    const logs = [...cli.stdout, ...cli.stderr].join('\n');
    // The run did log at debug level, malformed requests included (the line that leaked).
    expect(cli.stdout.filter((l) => l.includes('"msg":"bad client request"'))).toHaveLength(malformed.length);
    for (const [name, secret] of Object.entries({ UPSTREAM_KEY, MASTER_KEY, WRONG_MASTER, WRONG_KEY, CLIENT_CREDENTIAL, virtualKey, blocked })) {
      for (const form of forms(secret)) expect({ name, found: logs.includes(form) }).toEqual({ name, found: false });
    }
  });
});
