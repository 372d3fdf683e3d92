import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import type { CloseContext } from './plugin.js';
import { closeReserveMs, runClosers } from './shutdown.js';

function logged() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
  return { log, lines };
}

describe('shutdown', () => {
  it('keeps a quarter of the grace, at most 2 s, for the plugins to close in', () => {
    expect([0, 3, 50, 2000, 7999, 8000, 30_000].map(closeReserveMs)).toEqual([0, 0, 12, 500, 1999, 2000, 2000]);
  });

  it('runs the closers in reverse order with the deadline and a signal that aborts at it; a failing one is logged and the rest still run', async () => {
    const { log, lines } = logged();
    const calls: { plugin: string; c: CloseContext; aborted: boolean }[] = [];
    const deadline = Date.now() + 100;
    let abortedAt = 0;
    await runClosers(
      [
        { plugin: 'storage', close: (c) => void calls.push({ plugin: 'storage', c, aborted: c.signal.aborted }) },
        {
          plugin: 'ledger',
          close: async (c) => {
            calls.push({ plugin: 'ledger', c, aborted: c.signal.aborted });
            await new Promise((r) => c.signal.addEventListener('abort', r));
            abortedAt = Date.now();
          },
        },
        {
          plugin: 'broken',
          close: (c) => {
            calls.push({ plugin: 'broken', c, aborted: c.signal.aborted });
            throw new Error('would not close');
          },
        },
      ],
      deadline,
      log,
    );
    expect(calls.map((x) => [x.plugin, x.c.deadline])).toEqual([['broken', deadline], ['ledger', deadline], ['storage', deadline]]);
    expect(calls.slice(0, 2).map((x) => x.aborted)).toEqual([false, false]);
    expect(calls[2]!.aborted).toBe(true);
    expect(abortedAt).toBeGreaterThanOrEqual(deadline);
    expect(lines.map((l) => [l.level, l.plugin, l.msg, (l.err as { message?: string } | undefined)?.message])).toEqual([[50, 'broken', 'a plugin failed to close', 'would not close']]);
  });

  it('names a plugin that kept closing past the deadline, not the ones that had to start after it', async () => {
    const { log, lines } = logged();
    const deadline = Date.now() - 1;
    await runClosers(
      [
        { plugin: 'quick', close: () => undefined },
        { plugin: 'slow', close: () => new Promise((r) => setTimeout(r, 200)) },
      ],
      deadline,
      log,
    );
    expect(lines.map((l) => [l.level, l.plugin, l.msg])).toEqual([[40, 'slow', 'a plugin was still closing past the shutdown deadline']]);
    expect(lines[0]!.overMs).toBeGreaterThanOrEqual(199);
  });
});
