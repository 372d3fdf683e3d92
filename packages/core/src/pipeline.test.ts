import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { Pipeline } from './pipeline.js';
import { PLUGINS } from './tokens.js';
import type { LoadedPlugin, PluginHooks } from './plugin.js';
import type { RequestContext } from './context.js';

function build(plugins: LoadedPlugin[]): Pipeline {
  const c = container.createChildContainer();
  c.register(PLUGINS, { useValue: plugins });
  return c.resolve(Pipeline);
}

function recorder(log: string[], name: string, priority: number, extra: PluginHooks = {}): LoadedPlugin {
  return {
    name,
    priority,
    hooks: {
      onRequest: () => void log.push(`req:${name}`),
      beforeUpstream: async () => void log.push(`before:${name}`),
      onResponseHeaders: () => void log.push(`headers:${name}`),
      onChunk: () => void log.push(`chunk:${name}`),
      onComplete: () => void log.push(`complete:${name}`),
      ...extra,
    },
  };
}

const ctx = { log: { error: () => {} } } as unknown as RequestContext;

describe('Pipeline', () => {
  it('runs request-side hooks high→low and response-side hooks low→high', async () => {
    const log: string[] = [];
    const p = build([recorder(log, 'cost', 100), recorder(log, 'auth', 900), recorder(log, 'policy', 700)]);
    await p.onRequest(ctx);
    await p.beforeUpstream(ctx, { method: 'GET', path: '/', headers: {}, body: null });
    await p.onResponseHeaders(ctx, { status: 200, headers: {} });
    p.onChunk(ctx, { event: 'ping', data: '{}' });
    await p.onComplete(ctx, { status: 200, aborted: false });
    expect(log).toEqual([
      'req:auth', 'req:policy', 'req:cost',
      'before:auth', 'before:policy', 'before:cost',
      'headers:cost', 'headers:policy', 'headers:auth',
      'chunk:cost', 'chunk:policy', 'chunk:auth',
      'complete:cost', 'complete:policy', 'complete:auth',
    ]);
  });

  it('stops the request side at the first reply', async () => {
    const log: string[] = [];
    const p = build([recorder(log, 'a', 900, { onRequest: async () => ({ status: 418, body: { no: true } }) }), recorder(log, 'b', 100)]);
    expect(await p.onRequest(ctx)).toEqual({ status: 418, body: { no: true } });
    expect(log).toEqual([]);
  });

  it('returns no promise from onResponseHeaders when every hook is synchronous', () => {
    const p = build([recorder([], 'a', 1)]);
    expect(p.onResponseHeaders(ctx, { status: 200, headers: {} })).toBeUndefined();
  });

  it('awaits an async onResponseHeaders hook before later ones', async () => {
    const log: string[] = [];
    const p = build([
      recorder(log, 'low', 1, { onResponseHeaders: async () => { await Promise.resolve(); log.push('headers:low'); } }),
      recorder(log, 'high', 2),
    ]);
    await p.onResponseHeaders(ctx, { status: 200, headers: {} });
    expect(log).toEqual(['headers:low', 'headers:high']);
  });

  it('runs every onComplete hook even when one throws, and logs the failure', async () => {
    const errors: unknown[] = [];
    const log: string[] = [];
    const c = { log: { error: (o: unknown) => errors.push(o) } } as unknown as RequestContext;
    const p = build([recorder(log, 'bad', 1, { onComplete: () => { throw new Error('x'); } }), recorder(log, 'good', 2)]);
    await p.onComplete(c, { status: 200, aborted: false });
    expect(log).toEqual(['complete:good']);
    expect(errors).toHaveLength(1);
    expect((errors[0] as { plugin: string }).plugin).toBe('bad');
  });
});

describe('Pipeline.onResponseBody', () => {
  const head = { status: 200, headers: {} };
  const logged: unknown[] = [];
  const loggingCtx = { log: { error: (o: { plugin: string }) => void logged.push(o.plugin) } } as unknown as RequestContext;
  const plugin = (name: string, priority: number, fn: NonNullable<PluginHooks['onResponseBody']>): LoadedPlugin => ({ name, priority, hooks: { onResponseBody: fn } });

  it('returns no promise when every hook is synchronous, and logs a throwing one without stopping the rest', () => {
    const seen: string[] = [];
    logged.length = 0;
    const p = build([
      plugin('a', 1, () => void seen.push('a')),
      plugin('b', 2, () => {
        throw new Error('boom');
      }),
      plugin('c', 3, () => void seen.push('c')),
    ]);
    expect(p.onResponseBody(loggingCtx, head, {})).toBeUndefined();
    expect(seen).toEqual(['a', 'c']);
    expect(logged).toEqual(['b']);
  });

  it('awaits an async hook before later ones, and logs a rejected one without rejecting', async () => {
    const seen: string[] = [];
    logged.length = 0;
    const p = build([
      plugin('a', 1, async () => {
        await new Promise((r) => setTimeout(r, 10));
        seen.push('a');
      }),
      plugin('b', 2, () => Promise.reject(new Error('boom'))),
      plugin('c', 3, () => void seen.push('c')),
    ]);
    const r = p.onResponseBody(loggingCtx, head, {});
    expect(r).toBeInstanceOf(Promise);
    await r;
    expect(seen).toEqual(['a', 'c']);
    expect(logged).toEqual(['b']);
  });
});
