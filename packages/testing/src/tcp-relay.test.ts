import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTcpRelay, type TcpRelay } from './tcp-relay.js';
import { until } from './until.js';

let echo: Server;
let relay: TcpRelay;

beforeEach(async () => {
  echo = createServer((s) => s.on('error', () => {}).pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  relay = await createTcpRelay({ port: (echo.address() as AddressInfo).port });
});

afterEach(async () => {
  await relay.close();
  await new Promise<void>((r) => echo.close(() => r()));
});

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(relay.port, relay.host, () => resolve(s));
    s.once('error', reject);
    s.on('error', () => {});
  });
}

const nextData = (s: Socket) => new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
const closed = (s: Socket) => new Promise<boolean>((resolve) => s.once('close', (hadError) => resolve(hadError)));

describe('createTcpRelay', () => {
  it('relays bytes both ways in pass mode', async () => {
    const s = await open();
    s.write('ping');
    expect(await nextData(s)).toBe('ping');
    s.destroy();
  });

  it('holds every byte in blackhole mode and lets them through in pass mode', async () => {
    const s = await open();
    relay.setMode('blackhole');
    const got: string[] = [];
    s.on('data', (d: Buffer) => got.push(d.toString()));
    s.write('held');
    await until(() => relay.held === 1);
    expect(got).toEqual([]);
    relay.setMode('pass');
    await until(() => got.join('') === 'held');
    expect(relay.held).toBe(0);
    s.destroy();
  });

  it('resets open connections, and refuses new ones in refuse mode', async () => {
    const s = await open();
    const done = closed(s);
    s.on('error', () => {});
    relay.reset();
    expect(await done).toBe(true);
    relay.setMode('refuse');
    const r = connect(relay.port, relay.host);
    r.on('error', () => {});
    expect(await closed(r)).toBe(true);
  });
});
