import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { CliIo, SignalSource } from './io.js';
import { waitForShutdown } from './shutdown.js';

function fakeIo() {
  const emitter = new EventEmitter();
  const err: string[] = [];
  const exits: number[] = [];
  const io: CliIo = {
    env: {},
    out: () => undefined,
    err: (line) => void err.push(line),
    signals: emitter as SignalSource,
    exitNow: (code) => void exits.push(code),
  };
  const signal = (name: 'SIGTERM' | 'SIGINT') => emitter.emit(name, name);
  return { io, err, exits, signal };
}

function controllableGateway() {
  const calls: { graceMs?: number }[] = [];
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const closed = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return { gw: { close: (o?: { graceMs?: number }) => (calls.push(o ?? {}), closed) }, calls, finish: () => finish(), fail: (e: Error) => fail(e) };
}

describe('waitForShutdown', () => {
  it('closes with the grace period on the first signal and resolves 0 once closed', async () => {
    const { io, err, exits, signal } = fakeIo();
    const g = controllableGateway();
    const done = waitForShutdown(g.gw, { graceMs: 1234, io });
    signal('SIGINT');
    expect(g.calls).toEqual([{ graceMs: 1234 }]);
    expect(err).toEqual([
      'tollgate: SIGINT received, no longer accepting connections; finishing in-flight requests (up to 926 ms), stopping within 1234 ms. Send it again to exit now.',
    ]);
    g.finish();
    expect(await done).toBe(0);
    expect(err.at(-1)).toBe('tollgate: stopped');
    expect(exits).toEqual([]);
  });

  it('exits at once with 1 on a second signal, without closing twice', () => {
    const { io, err, exits, signal } = fakeIo();
    const g = controllableGateway();
    void waitForShutdown(g.gw, { graceMs: 60_000, io });
    signal('SIGTERM');
    signal('SIGINT');
    expect(exits).toEqual([1]);
    expect(g.calls.length).toBe(1);
    expect(err.at(-1)).toBe('tollgate: SIGINT again, exiting now');
  });

  it('resolves 1 when closing fails', async () => {
    const { io, err, signal } = fakeIo();
    const g = controllableGateway();
    const done = waitForShutdown(g.gw, { graceMs: 0, io });
    signal('SIGTERM');
    g.fail(new Error('pool would not close'));
    expect(await done).toBe(1);
    expect(err.at(-1)).toBe('tollgate: pool would not close');
  });
});
