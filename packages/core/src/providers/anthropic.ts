import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.js';
import { forwardableRequestHeaders } from '../http-headers.js';
import { DEFAULT_END_USER_FROM, resolveClientIdentity, type IdentityInput, type IdentityOptions } from '../client-identity.js';
import type { AnthropicProviderConfig, ClientsConfig, RequestLimits } from '../config-schema.js';
import { readableCodings } from '../content-codings.js';
import type { RequestContext, ResponseInfo, RouteKind, SseEvent, Usage } from '../context.js';
import type { ProviderAdapter, ResponseSummary, StreamUsageTap } from '../provider.js';
import { memberValue, scanJsonObject, withoutMember, type JsonMember } from '../json-scan.js';

const CLIENT_CREDENTIALS = ['x-api-key', 'authorization'];
const DEFAULT_CLIENTS: ClientsConfig = { keyHeader: 'x-tollgate-key', endUserHeader: 'x-tollgate-end-user', endUserFrom: [...DEFAULT_END_USER_FROM], ownCredentials: 'per-key' };
const BATCHES = '/v1/messages/batches';
/** A path about one batch: its id. */
const BATCH_PATH = /^\/v1\/messages\/batches\/([^/]+)/;
/** `GET /v1/models/{model_id}`: its id. */
const MODEL_PATH = /^\/v1\/models\/([^/]+)$/;
/** The API version the gateway's own requests ask for (the Message Batches calls it makes exist in it). */
const OWN_API_VERSION = '2023-06-01';

type Json = Record<string, unknown>;

/** The top-level keys the gateway reads from a request body; each may appear only once. */
const READ_KEYS = new Set(['model', 'stream', 'metadata', 'litellm_metadata', 'requests']);
/** What summarizeJson reads from a Message. */
const SUMMARY_KEYS = new Set(['id', 'model', 'usage']);
/** Largest top-level value the gateway parses (`model`, `metadata`, `litellm_metadata`: a few ids and tags). */
const MAX_VALUE_BYTES = 64 * 1024;

/**
 * The Anthropic pass-through: native API in and out, mounted at `/anthropic`.
 *
 * @example
 * const adapter = createAnthropicAdapter({ baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-…', timeoutMs: 600000, idleTimeoutMs: 300000, connections: 256 });
 */
export function createAnthropicAdapter(config: Omit<AnthropicProviderConfig, 'upstreams' | 'failover'>, clients: ClientsConfig = DEFAULT_CLIENTS): ProviderAdapter {
  const base = new URL(config.baseUrl ?? 'https://api.anthropic.com');
  const basePath = base.pathname.replace(/\/+$/, '');
  // The gateway key never travels upstream, in whichever header it came; the client's own
  // credential only when the auth plugin let it through (ctx.billing).
  const gatewayCredentials = new Set([...CLIENT_CREDENTIALS, clients.keyHeader]);
  const keyHeaderOnly = new Set([clients.keyHeader]);
  const identity: IdentityOptions = { endUserHeader: clients.endUserHeader, endUserFrom: clients.endUserFrom };

  return {
    name: 'anthropic',
    mountPath: '/anthropic',
    origin: base.origin,
    basePath,
    timeoutMs: config.timeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    connections: config.connections,

    classify,

    readsBody: (ctx) => expectsJson(ctx.request.method, ctx.route.kind, ctx.route.upstreamPath),

    localReply(method, path) {
      // Claude Code probes this at start; nothing to book, nothing to ask the upstream.
      if (path === '/api/hello' && (method === 'HEAD' || method === 'GET')) return { status: 200 };
      return undefined;
    },

    prepare(ctx, limits) {
      if (ctx.route.allowedModels !== undefined) hideUnlistedModel(ctx, ctx.request.path.slice(this.mountPath.length));
      const attribution: Omit<IdentityInput, 'headers'> = {};
      const identify = () => {
        const { endUser, ...client } = resolveClientIdentity({ headers: ctx.request.headers, ...attribution }, identity);
        ctx.endUser = checkEndUser(endUser, limits);
        ctx.client = client;
      };
      if (!expectsJson(ctx.request.method, ctx.route.kind, ctx.route.upstreamPath)) return identify();
      const body = ctx.request.body;
      if (body.length === 0) throw new GatewayError('TG_ERR_INVALID_JSON', 'request body must be a JSON object');
      const scanned = scanJsonObject(body, { keys: READ_KEYS, maxDepth: limits.maxJsonDepth });
      if (scanned instanceof Promise) {
        return scanned.then((found) => {
          readAttribution(ctx, found, limits, attribution);
          identify();
        });
      }
      readAttribution(ctx, scanned, limits, attribution);
      identify();
    },

    upstreamHeaders(clientHeaders: IncomingHttpHeaders, ctx: RequestContext) {
      const own = ctx.billing !== 'gateway';
      const headers = forwardableRequestHeaders(clientHeaders, own ? keyHeaderOnly : gatewayCredentials);
      // Read per call: a reload of the upstream pool may rotate the key.
      if (!own && config.apiKey !== undefined) headers['x-api-key'] = config.apiKey;
      // Bodies we rewrite must arrive uncompressed; metered ones in a coding we can read, or
      // their usage would be lost.
      if (this.rewritesResponse(ctx)) delete headers['accept-encoding'];
      else if (isMetered(ctx.route.kind)) {
        const codings = readableCodings(headers['accept-encoding']);
        if (codings === undefined) delete headers['accept-encoding'];
        else headers['accept-encoding'] = codings;
      }
      return headers;
    },

    ownRequestHeaders() {
      const headers: Record<string, string> = { 'anthropic-version': OWN_API_VERSION };
      if (config.apiKey !== undefined) headers['x-api-key'] = config.apiKey;
      return headers;
    },

    summaryKeys: SUMMARY_KEYS,

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
      if (isModelList(ctx)) return true;
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

    rewriteResponse(body, gatewayBase, ctx) {
      if (ctx && isModelList(ctx)) return onlyAllowedModels(body, ctx.route.allowedModels!);
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

/** `GET /v1/models` for a caller limited to some models. */
const isModelList = (ctx: RequestContext): boolean =>
  ctx.route.kind === 'models' && ctx.route.allowedModels !== undefined && ctx.request.method === 'GET' && pathOnly(ctx.route.upstreamPath).endsWith('/v1/models');

/**
 * `GET /v1/models/{model_id}` of a model outside the caller's list gets Anthropic's answer for a
 * model that does not exist, as the list leaves it out: the key learns nothing more about it.
 */
function hideUnlistedModel(ctx: RequestContext, path: string): void {
  const raw = ctx.route.kind === 'models' && ctx.request.method === 'GET' ? MODEL_PATH.exec(path)?.[1] : undefined;
  if (raw === undefined) return;
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    id = raw;
  }
  if (!ctx.route.allowedModels!.includes(id)) throw new GatewayError('TG_ERR_NOT_FOUND', `model: ${id}`);
}

/** A model list page with only the allowed models (Claude Code's model discovery offers what it lists). */
function onlyAllowedModels(body: unknown, allowed: readonly string[]): unknown {
  const page = body as Json | null;
  if (!page || !Array.isArray(page.data)) return body;
  const data = (page.data as (Json | null)[]).filter((m) => typeof m?.id === 'string' && allowed.includes(m.id));
  return { ...page, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

/** Routes whose responses carry usage the gateway must read. */
const isMetered = (kind: RouteKind): boolean => kind === 'messages' || kind === 'batches';

function expectsJson(method: string, kind: RouteKind, upstreamPath: string): boolean {
  if (method !== 'POST') return false;
  if (kind === 'messages' || kind === 'count_tokens') return true;
  return kind === 'batches' && pathOnly(upstreamPath) === BATCHES;
}

/**
 * Reads model, stream and tags from the members the scan found, parsing only their values,
 * and the identity fields into `out`; a batch create's `requests` is parsed whole (rare, and
 * its models are needed). `litellm_metadata` is cut out of the bytes: the rest of the body
 * goes upstream unchanged.
 */
function readAttribution(ctx: RequestContext, found: Map<string, JsonMember>, limits: RequestLimits, out: Omit<IdentityInput, 'headers'>): void {
  const body = ctx.request.body;
  const value = (key: string): unknown => {
    const m = found.get(key);
    if (!m) return undefined;
    if (m.valueEnd - m.valueStart > MAX_VALUE_BYTES) throw new GatewayError('TG_ERR_BAD_REQUEST', `${key} is larger than ${MAX_VALUE_BYTES} bytes`);
    return memberValue(body, m);
  };
  const model = value('model');
  if (typeof model === 'string') {
    ctx.route.model = model;
    ctx.route.models = [model];
  } else if (found.has('requests')) {
    readBatchModels(ctx);
  }
  ctx.route.stream = value('stream') === true;
  const litellm = found.get('litellm_metadata');
  if (litellm) {
    const meta = value('litellm_metadata') as Json | null;
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
    if (tags) ctx.tags = checkTags(tags as string[], limits);
    out.litellmUser = meta?.user as string | undefined;
    ctx.request.body = withoutMember(body, litellm);
  }
  out.userId = (value('metadata') as Json | null | undefined)?.user_id;
}

function readBatchModels(ctx: RequestContext): void {
  const requests = (ctx.request.json() as Json).requests;
  if (!Array.isArray(requests)) return;
  const models = new Set<string>();
  (requests as { params?: { model?: unknown; litellm_metadata?: unknown } }[]).forEach((r, i) => {
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

/** Tags and end users become ledger columns and index keys: bounded, with a clear 400. */
function checkTags(tags: string[], limits: RequestLimits): string[] {
  if (tags.length > limits.maxTags) throw new GatewayError('TG_ERR_BAD_REQUEST', `litellm_metadata.tags has ${tags.length} tags; at most ${limits.maxTags} are allowed`);
  const long = tags.findIndex((t) => t.length > limits.maxTagLength);
  if (long !== -1) throw new GatewayError('TG_ERR_BAD_REQUEST', `litellm_metadata.tags.${long} is longer than ${limits.maxTagLength} characters`);
  return tags;
}

function checkEndUser(endUser: string | undefined, limits: RequestLimits): string | undefined {
  if (endUser !== undefined && endUser.length > limits.maxEndUserLength) {
    throw new GatewayError('TG_ERR_BAD_REQUEST', `the end user (litellm_metadata.user, the end-user header or metadata.user_id) is longer than ${limits.maxEndUserLength} characters`);
  }
  return endUser;
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
