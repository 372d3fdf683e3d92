import { inject, injectable } from 'tsyringe';
import type { LoadedPlugin, Outcome, PluginHooks, Reply } from './plugin.js';
import type { RequestContext, SseEvent, UpstreamRequest, UpstreamResponseHead } from './context.js';
import { PLUGINS } from './tokens.js';
import { GatewayError } from './errors.js';
import { invalidHeader, isSendableStatus } from './http-headers.js';

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

  /** Throws TG_ERR_BAD_HEADER when a hook left a header undici would refuse to send. */
  beforeUpstream(ctx: RequestContext, upstream: UpstreamRequest): void | Promise<void> {
    for (let i = 0; i < this.beforeUpstreamHooks.length; i++) {
      const h = this.beforeUpstreamHooks[i]!;
      const r = h.fn(ctx, upstream);
      if (isPromise(r)) return Promise.resolve(r).then(() => this.beforeUpstreamFrom(i, ctx, upstream));
      checkHeaders(h.plugin, 'beforeUpstream', upstream.headers);
    }
  }

  /** Checks what hook `done` left, then runs the hooks after it. */
  private async beforeUpstreamFrom(done: number, ctx: RequestContext, upstream: UpstreamRequest): Promise<void> {
    checkHeaders(this.beforeUpstreamHooks[done]!.plugin, 'beforeUpstream', upstream.headers);
    for (let i = done + 1; i < this.beforeUpstreamHooks.length; i++) {
      await this.beforeUpstreamHooks[i]!.fn(ctx, upstream);
      checkHeaders(this.beforeUpstreamHooks[i]!.plugin, 'beforeUpstream', upstream.headers);
    }
  }

  /**
   * Returns a promise only when some hook did. Throws (or rejects with) TG_ERR_BAD_HEADER when
   * a hook left a status or header the client cannot be sent.
   */
  onResponseHeaders(ctx: RequestContext, head: UpstreamResponseHead): void | Promise<void> {
    for (let i = 0; i < this.headers.length; i++) {
      const h = this.headers[i]!;
      const r = h.fn(ctx, head);
      if (isPromise(r)) return r.then(() => this.headersFrom(i, ctx, head));
      checkHead(h.plugin, 'onResponseHeaders', head);
    }
  }

  private async headersFrom(done: number, ctx: RequestContext, head: UpstreamResponseHead): Promise<void> {
    checkHead(this.headers[done]!.plugin, 'onResponseHeaders', head);
    for (let i = done + 1; i < this.headers.length; i++) {
      await this.headers[i]!.fn(ctx, head);
      checkHead(this.headers[i]!.plugin, 'onResponseHeaders', head);
    }
  }

  /**
   * A failing tap is logged and skipped: the bytes have already gone to the client. A hook is
   * synchronous by contract, but one written `async` that rejects is logged too, not left to
   * crash the process as an unhandled rejection.
   */
  onChunk(ctx: RequestContext, event: SseEvent): void {
    for (const h of this.chunk) {
      try {
        const r: unknown = h.fn(ctx, event);
        if (isPromise(r)) r.then(noop, (err: unknown) => ctx.log.error({ plugin: h.plugin, err }, 'onChunk hook failed'));
      } catch (err) {
        ctx.log.error({ plugin: h.plugin, err }, 'onChunk hook failed');
      }
    }
  }

  /**
   * A failing body hook is logged and skipped: the response is still sent. A header it left
   * that cannot be sent is not skippable (the response would go out without it, or not at
   * all): that throws TG_ERR_BAD_HEADER. Returns a promise only when some hook did.
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
    const r = logged(h.plugin, 'onResponseBody hook failed', ctx, () => h.fn(ctx, head, body));
    if (r) return r.then(() => checkHead(h.plugin, 'onResponseBody', head));
    checkHead(h.plugin, 'onResponseBody', head);
    return undefined;
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

type RequestHook = { plugin: string; fn: (ctx: RequestContext) => void | Reply | Promise<void | Reply> };

/** Request-side hooks from `start`, synchronously until one returns a promise. */
function runRequestHooks(hooks: RequestHook[], start: number, ctx: RequestContext): Reply | undefined | Promise<Reply | undefined> {
  for (let i = start; i < hooks.length; i++) {
    const h = hooks[i]!;
    const r = h.fn(ctx);
    if (isPromise(r)) return Promise.resolve(r).then((reply) => (reply ? checkedReply(h.plugin, reply) : runRequestHooks(hooks, i + 1, ctx)));
    if (r) return checkedReply(h.plugin, r);
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

function checkHeaders(plugin: string, phase: string, headers: Readonly<Record<string, unknown>> | undefined): void {
  const bad = invalidHeader(headers);
  if (bad !== undefined) throw new GatewayError('TG_ERR_BAD_HEADER', `plugin "${plugin}" set an invalid header ${JSON.stringify(bad)} in ${phase}`);
}

function checkHead(plugin: string, phase: string, head: UpstreamResponseHead): void {
  if (!isSendableStatus(head.status)) throw new GatewayError('TG_ERR_BAD_HEADER', `plugin "${plugin}" set an invalid status ${JSON.stringify(head.status)} in ${phase}`);
  checkHeaders(plugin, phase, head.headers);
}

function checkedReply(plugin: string, reply: Reply): Reply {
  if (!isSendableStatus(reply.status)) throw new GatewayError('TG_ERR_BAD_HEADER', `plugin "${plugin}" replied with an invalid status ${JSON.stringify(reply.status)}`);
  checkHeaders(plugin, 'its onRequest reply', reply.headers);
  return reply;
}
