import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.js';
import { forwardableRequestHeaders } from '../http-headers.js';
import type { AnthropicProviderConfig } from '../config-schema.js';
import type { RequestContext, ResponseInfo, RouteKind, SseEvent, Usage } from '../context.js';
import type { ProviderAdapter, ResponseSummary, StreamUsageTap } from '../provider.js';

const CLIENT_CREDENTIALS = new Set(['x-api-key', 'authorization']);
const BATCHES = '/v1/messages/batches';
/** A path about one batch: its id. */
const BATCH_PATH = /^\/v1\/messages\/batches\/([^/]+)/;
/** The API version the gateway's own requests ask for (the Message Batches calls it makes exist in it). */
const OWN_API_VERSION = '2023-06-01';

type Json = Record<string, unknown>;

/**
 * The Anthropic pass-through: native API in and out, mounted at `/anthropic`.
 *
 * @example
 * const adapter = createAnthropicAdapter({ baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-…', timeoutMs: 600000, idleTimeoutMs: 300000, connections: 256 });
 */
export function createAnthropicAdapter(config: Omit<AnthropicProviderConfig, 'upstreams' | 'failover'>): ProviderAdapter {
  const base = new URL(config.baseUrl ?? 'https://api.anthropic.com');
  const basePath = base.pathname.replace(/\/+$/, '');

  return {
    name: 'anthropic',
    mountPath: '/anthropic',
    origin: base.origin,
    basePath,
    timeoutMs: config.timeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    connections: config.connections,

    classify,

    prepare(ctx) {
      if (!expectsJson(ctx.request.method, ctx.route.kind, ctx.route.upstreamPath)) return;
      const body = ctx.request.json();
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new GatewayError('TG_ERR_INVALID_JSON', 'request body must be a JSON object');
      }
      readAttribution(ctx, body as Json);
    },

    upstreamHeaders(clientHeaders: IncomingHttpHeaders, ctx: RequestContext) {
      const headers = forwardableRequestHeaders(clientHeaders, CLIENT_CREDENTIALS);
      // Read per call: a reload of the upstream pool may rotate the key.
      if (config.apiKey !== undefined) headers['x-api-key'] = config.apiKey;
      // Bodies we rewrite must arrive uncompressed.
      if (this.rewritesResponse(ctx)) delete headers['accept-encoding'];
      return headers;
    },

    ownRequestHeaders() {
      const headers: Record<string, string> = { 'anthropic-version': OWN_API_VERSION };
      if (config.apiKey !== undefined) headers['x-api-key'] = config.apiKey;
      return headers;
    },

    summarizeJson(body) {
      const b = (typeof body === 'object' && body !== null ? body : {}) as Json;
      const usage = b.usage;
      return {
        usage: usage && typeof usage === 'object' ? normalizeUsage(usage as Json) : undefined,
        response: { id: str(b.id), model: str(b.model) },
      };
    },

    createStreamTap: () => new AnthropicStreamTap(),

    isContentEvent: (event) => event.event === 'content_block_delta',

    isJsonLines: (ctx) => ctx.route.kind === 'batches' && pathOnly(ctx.route.upstreamPath).endsWith('/results'),

    rewritesResponse(ctx) {
      return ctx.route.kind === 'batches' && !pathOnly(ctx.route.upstreamPath).endsWith('/results');
    },

    pinnedResource(ctx) {
      if (ctx.route.kind !== 'batches') return undefined;
      return BATCH_PATH.exec(ctx.request.path.slice(this.mountPath.length))?.[1];
    },

    createdResource(ctx, body) {
      const b = body as Json | null;
      if (ctx.request.method !== 'POST' || ctx.request.path !== `${this.mountPath}${BATCHES}`) return undefined;
      return b?.type === 'message_batch' && typeof b.id === 'string' ? b.id : undefined;
    },

    rewriteResponse(body, gatewayBase) {
      const target = `${gatewayBase}/anthropic`;
      const fix = (batch: unknown): void => {
        const b = batch as Json | null;
        if (b && typeof b.results_url === 'string') b.results_url = pointAtGateway(b.results_url, basePath, target);
      };
      fix(body);
      const data = (body as Json | null)?.data;
      if (Array.isArray(data)) data.forEach(fix);
      return body;
    },
  };
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

function classify(method: string, path: string): RouteKind {
  if (path === '/v1/messages') return 'messages';
  if (path === '/v1/messages/count_tokens') return 'count_tokens';
  if (path === BATCHES || path.startsWith(`${BATCHES}/`)) return 'batches';
  if (path === '/v1/models' || path.startsWith('/v1/models/')) return 'models';
  return 'other';
}

function expectsJson(method: string, kind: RouteKind, upstreamPath: string): boolean {
  if (method !== 'POST') return false;
  if (kind === 'messages' || kind === 'count_tokens') return true;
  return kind === 'batches' && pathOnly(upstreamPath) === BATCHES;
}

function readAttribution(ctx: RequestContext, body: Json): void {
  if (typeof body.model === 'string') {
    ctx.route.model = body.model;
    ctx.route.models = [body.model];
  } else if (Array.isArray(body.requests)) {
    const models = new Set<string>();
    (body.requests as { params?: { model?: unknown; litellm_metadata?: unknown } }[]).forEach((r, i) => {
      if (typeof r?.params?.model === 'string') models.add(r.params.model);
      // Anthropic refuses the field there (the request would come back errored), and the
      // gateway books a batch to its create call's attribution.
      if (r?.params && 'litellm_metadata' in r.params) {
        throw new GatewayError('TG_ERR_BAD_REQUEST', `requests.${i}.params.litellm_metadata: give litellm_metadata once, at the top level of the batch create; it applies to the whole batch`);
      }
    });
    ctx.route.models = [...models];
    if (models.size === 1) ctx.route.model = ctx.route.models[0];
  }
  ctx.route.stream = body.stream === true;
  let endUser: string | undefined;
  if ('litellm_metadata' in body) {
    const meta = body.litellm_metadata as Json | null;
    if (meta !== null && (typeof meta !== 'object' || Array.isArray(meta))) {
      throw new GatewayError('TG_ERR_BAD_REQUEST', 'litellm_metadata must be an object');
    }
    const tags = meta?.tags;
    if (tags !== undefined && (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string'))) {
      throw new GatewayError('TG_ERR_BAD_REQUEST', 'litellm_metadata.tags must be an array of strings');
    }
    if (meta?.user !== undefined && typeof meta.user !== 'string') {
      throw new GatewayError('TG_ERR_BAD_REQUEST', 'litellm_metadata.user must be a string');
    }
    if (tags) ctx.tags = tags as string[];
    endUser = meta?.user as string | undefined;
    delete body.litellm_metadata;
    ctx.request.setJson(body);
  }
  const userId = (body.metadata as Json | undefined)?.user_id;
  ctx.endUser = endUser ?? (typeof userId === 'string' ? userId : undefined);
}

function pointAtGateway(url: string, basePath: string, target: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const path = basePath && parsed.pathname.startsWith(basePath) ? parsed.pathname.slice(basePath.length) : parsed.pathname;
  return `${target}${path}${parsed.search}`;
}

/** A count: absent (or null) is 0; a value that is not a number is NaN, which readableUsage() refuses. */
const num = (v: unknown): number => (v === undefined || v === null ? 0 : typeof v === 'number' ? v : NaN);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Anthropic usage → provider-neutral usage. Cache writes without the 5m/1h split count as 5m,
 * the default TTL.
 *
 * @example
 * normalizeUsage({ input_tokens: 10, output_tokens: 5 }).inputTokens; // 10
 */
export function normalizeUsage(raw: Json): Usage {
  const split = raw.cache_creation as Json | null | undefined;
  const w5 = split ? num(split.ephemeral_5m_input_tokens) : num(raw.cache_creation_input_tokens);
  const w1 = split ? num(split.ephemeral_1h_input_tokens) : 0;
  return {
    inputTokens: num(raw.input_tokens),
    outputTokens: num(raw.output_tokens),
    cacheReadTokens: num(raw.cache_read_input_tokens),
    cacheWriteTokens: w5 + w1,
    cacheWrite5mTokens: w5,
    cacheWrite1hTokens: w1,
    webSearchRequests: num((raw.server_tool_use as Json | null | undefined)?.web_search_requests),
    serviceTier: str(raw.service_tier),
    inferenceGeo: str(raw.inference_geo),
    speed: str(raw.speed),
    raw,
  };
}

/** Input side from `message_start`; `message_delta` carries cumulative values that override. */
class AnthropicStreamTap implements StreamUsageTap {
  private raw: Json | undefined;
  private info: ResponseInfo | undefined;
  private err: { type: string; message: string } | undefined;

  onEvent(event: SseEvent): void {
    switch (event.event) {
      case 'message_start': {
        const message = (JSON.parse(event.data) as { message?: Json }).message;
        if (message) this.info = { id: str(message.id), model: str(message.model) };
        const usage = message?.usage as Json | undefined;
        if (usage) this.raw = { ...usage };
        break;
      }
      case 'message_delta': {
        const usage = (JSON.parse(event.data) as { usage?: Json }).usage;
        if (usage) this.raw = this.raw ? Object.assign(this.raw, usage) : { ...usage };
        break;
      }
      case 'error': {
        const error = (JSON.parse(event.data) as { error?: { type?: unknown; message?: unknown } }).error;
        this.err = { type: str(error?.type) ?? 'api_error', message: str(error?.message) ?? '' };
        break;
      }
    }
  }

  usage(): Usage | undefined {
    return this.raw ? normalizeUsage(this.raw) : undefined;
  }

  response(): ResponseInfo | undefined {
    return this.info;
  }

  error(): { type: string; message: string } | undefined {
    return this.err;
  }
}
