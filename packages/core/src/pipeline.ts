import { inject, injectable } from 'tsyringe';
import type { LoadedPlugin, Outcome, PluginHooks, Reply } from './plugin.js';
import type { RequestContext, SseEvent, UpstreamRequest, UpstreamResponseHead } from './context.js';
import { PLUGINS } from './tokens.js';

type Hook<K extends keyof PluginHooks> = { plugin: string; fn: NonNullable<PluginHooks[K]> };

const isPromise = (v: unknown): v is Promise<unknown> => typeof (v as Promise<unknown> | undefined)?.then === 'function';

/**
 * The plugin chain. Request-side hooks run from high priority to low, response-side hooks
 * from low to high, so every phase sees the plugins in one consistent order. Hooks that
 * return plain values cost no promise; a hook that returns a promise is awaited.
 */
@injectable()
export class Pipeline {
  private readonly requestHeaders: Hook<'onRequestHeaders'>[];
  private readonly request: Hook<'onRequest'>[];
  private readonly beforeUpstreamHooks: Hook<'beforeUpstream'>[];
  private readonly headers: Hook<'onResponseHeaders'>[];
  private readonly chunk: Hook<'onChunk'>[];
  private readonly body: Hook<'onResponseBody'>[];
  private readonly complete: Hook<'onComplete'>[];

  constructor(@inject(PLUGINS) plugins: LoadedPlugin[]) {
    const highFirst = [...plugins].sort((a, b) => b.priority - a.priority);
    const lowFirst = [...highFirst].reverse();
    const pick = <K extends keyof PluginHooks>(list: LoadedPlugin[], key: K): Hook<K>[] =>
      list.flatMap((p) => {
        const fn = p.hooks[key] as ((...args: unknown[]) => unknown) | undefined;
        return fn ? [{ plugin: p.name, fn: fn.bind(p.hooks) as NonNullable<PluginHooks[K]> }] : [];
      });
    this.requestHeaders = pick(highFirst, 'onRequestHeaders');
    this.request = pick(highFirst, 'onRequest');
    this.beforeUpstreamHooks = pick(highFirst, 'beforeUpstream');
    this.headers = pick(lowFirst, 'onResponseHeaders');
    this.chunk = pick(lowFirst, 'onChunk');
    this.body = pick(lowFirst, 'onResponseBody');
    this.complete = pick(lowFirst, 'onComplete');
  }

  get hasChunkHooks(): boolean {
    return this.chunk.length > 0;
  }

  /** When true, non-streaming message bodies are held back for `onResponseBody`. */
  get hasBodyHooks(): boolean {
    return this.body.length > 0;
  }

  /**
   * Runs `onRequestHeaders` hooks, before the body is read; the first `Reply` stops the chain.
   * Same contract as `onRequest`.
   */
  onRequestHeaders(ctx: RequestContext): Reply | undefined | Promise<Reply | undefined> {
    return runRequestHooks(this.requestHeaders, 0, ctx);
  }

  /**
   * Runs `onRequest` hooks; the first `Reply` stops the chain. Throws what a hook throws.
   * Returns a promise only when some hook did (so do the other phases): a request whose hooks
   * are all synchronous costs no promise and no microtask turn per phase.
   */
  onRequest(ctx: RequestContext): Reply | undefined | Promise<Reply | undefined> {
    return runRequestHooks(this.request, 0, ctx);
  }

  beforeUpstream(ctx: RequestContext, upstream: UpstreamRequest): void | Promise<void> {
    for (let i = 0; i < this.beforeUpstreamHooks.length; i++) {
      const r = this.beforeUpstreamHooks[i]!.fn(ctx, upstream);
      if (isPromise(r)) return Promise.resolve(r).then(() => this.beforeUpstreamFrom(i + 1, ctx, upstream));
    }
  }

  private async beforeUpstreamFrom(start: number, ctx: RequestContext, upstream: UpstreamRequest): Promise<void> {
    for (let i = start; i < this.beforeUpstreamHooks.length; i++) await this.beforeUpstreamHooks[i]!.fn(ctx, upstream);
  }

  /** Returns a promise only when some hook did. */
  onResponseHeaders(ctx: RequestContext, head: UpstreamResponseHead): void | Promise<void> {
    for (let i = 0; i < this.headers.length; i++) {
      const r = this.headers[i].fn(ctx, head);
      if (isPromise(r)) return r.then(() => this.headersFrom(i + 1, ctx, head));
    }
  }

  private async headersFrom(start: number, ctx: RequestContext, head: UpstreamResponseHead): Promise<void> {
    for (let i = start; i < this.headers.length; i++) await this.headers[i].fn(ctx, head);
  }

  /** A failing tap is logged and skipped: the bytes have already gone to the client. */
  onChunk(ctx: RequestContext, event: SseEvent): void {
    for (const h of this.chunk) {
      try {
        h.fn(ctx, event);
      } catch (err) {
        ctx.log.error({ plugin: h.plugin, err }, 'onChunk hook failed');
      }
    }
  }

  /**
   * A failing body hook is logged and skipped: the response is still sent. Returns a promise
   * only when some hook did.
   */
  onResponseBody(ctx: RequestContext, head: UpstreamResponseHead, body: unknown): void | Promise<void> {
    for (let i = 0; i < this.body.length; i++) {
      const r = this.bodyHook(i, ctx, head, body);
      if (r) return r.then(() => this.bodyFrom(i + 1, ctx, head, body));
    }
  }

  private async bodyFrom(start: number, ctx: RequestContext, head: UpstreamResponseHead, body: unknown): Promise<void> {
    for (let i = start; i < this.body.length; i++) await this.bodyHook(i, ctx, head, body);
  }

  private bodyHook(i: number, ctx: RequestContext, head: UpstreamResponseHead, body: unknown): Promise<void> | undefined {
    const h = this.body[i]!;
    return logged(h.plugin, 'onResponseBody hook failed', ctx, () => h.fn(ctx, head, body));
  }

  /** Every hook runs even when one fails; failures are logged with the request id. */
  onComplete(ctx: RequestContext, outcome: Outcome): void | Promise<void> {
    for (let i = 0; i < this.complete.length; i++) {
      const r = this.completeHook(i, ctx, outcome);
      if (r) return r.then(() => this.completeFrom(i + 1, ctx, outcome));
    }
  }

  private async completeFrom(start: number, ctx: RequestContext, outcome: Outcome): Promise<void> {
    for (let i = start; i < this.complete.length; i++) await this.completeHook(i, ctx, outcome);
  }

  private completeHook(i: number, ctx: RequestContext, outcome: Outcome): Promise<void> | undefined {
    const h = this.complete[i]!;
    return logged(h.plugin, 'onComplete hook failed', ctx, () => h.fn(ctx, outcome));
  }
}

type RequestHook = { fn: (ctx: RequestContext) => void | Reply | Promise<void | Reply> };

/** Request-side hooks from `start`, synchronously until one returns a promise. */
function runRequestHooks(hooks: RequestHook[], start: number, ctx: RequestContext): Reply | undefined | Promise<Reply | undefined> {
  for (let i = start; i < hooks.length; i++) {
    const r = hooks[i]!.fn(ctx);
    if (isPromise(r)) return Promise.resolve(r).then((reply) => reply || runRequestHooks(hooks, i + 1, ctx));
    if (r) return r;
  }
  return undefined;
}

/**
 * Runs one hook whose failure (thrown or rejected) is logged with the request id, never passed
 * on. Returns a promise only when the hook did.
 */
function logged(plugin: string, message: string, ctx: RequestContext, run: () => unknown): Promise<void> | undefined {
  try {
    const r = run();
    if (isPromise(r)) return Promise.resolve(r).then(noop, (err: unknown) => ctx.log.error({ plugin, err }, message));
  } catch (err) {
    ctx.log.error({ plugin, err }, message);
  }
  return undefined;
}

const noop = (): void => undefined;
