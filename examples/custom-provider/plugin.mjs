// A provider added by a plugin: an OpenAI-compatible Chat Completions upstream mounted at
// /openai, through the same pipeline as /anthropic (auth, budgets and limits, metadata, the
// access log, metrics and the spend ledger, which records its requests as unpriced until
// prices.models names its models). A sketch of the ProviderAdapter contract
// (docs/plugin-authoring.md, "Adding a provider"), not a full OpenAI integration: no Responses
// API, no batches.
import { definePlugin, forwardableRequestHeaders, GatewayError } from '@tollgate/core';

/** The client's credentials never go upstream; the upstream key is added instead. */
const CLIENT_CREDENTIALS = new Set(['authorization', 'x-api-key']);

/**
 * @param {{ prompt_tokens?: number, completion_tokens?: number, prompt_tokens_details?: { cached_tokens?: number } }} u
 * @returns {import('@tollgate/core').Usage}
 */
function usageOf(u) {
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    inputTokens: (u.prompt_tokens ?? 0) - cached,
    outputTokens: u.completion_tokens ?? 0,
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    webSearchRequests: 0,
    raw: u,
  };
}

/**
 * @param {{ baseUrl: string, apiKey: string | null, mountPath: string, timeoutMs: number }} config
 * @returns {import('@tollgate/core').ProviderAdapter}
 */
export function createOpenAiAdapter(config) {
  const base = new URL(config.baseUrl);
  /** @type {Record<string, string>} */
  const credential = config.apiKey === null ? {} : { authorization: `Bearer ${config.apiKey}` };
  return {
    name: 'openai',
    mountPath: config.mountPath,
    origin: base.origin,
    basePath: base.pathname.replace(/\/+$/, ''),
    timeoutMs: config.timeoutMs,
    idleTimeoutMs: config.timeoutMs,
    connections: null,

    classify: (method, path) => {
      if (method === 'POST' && path === '/v1/chat/completions') return 'messages';
      if (path === '/v1/models' || path.startsWith('/v1/models/')) return 'models';
      return 'other';
    },

    // Model, stream flag and end user (OpenAI's `user` field) from the body.
    prepare(ctx) {
      if (ctx.route.kind !== 'messages') return;
      const body = /** @type {{ model?: unknown, stream?: unknown, user?: unknown }} */ (ctx.request.json());
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('TG_ERR_INVALID_JSON', 'request body must be a JSON object');
      if (typeof body.model === 'string') {
        ctx.route.model = body.model;
        ctx.route.models = [body.model];
      }
      ctx.route.stream = body.stream === true;
      if (typeof body.user === 'string') ctx.endUser = body.user;
    },

    upstreamHeaders: (clientHeaders) => ({ ...forwardableRequestHeaders(clientHeaders, CLIENT_CREDENTIALS), ...credential }),
    ownRequestHeaders: () => ({ ...credential }),

    summarizeJson(body) {
      const b = /** @type {{ id?: string, model?: string, usage?: object }} */ (typeof body === 'object' && body !== null ? body : {});
      return { usage: b.usage ? usageOf(b.usage) : undefined, response: { id: b.id, model: b.model } };
    },

    // Streams are `data: {chunk}` events ending with `data: [DONE]`; usage comes in the last
    // chunk when the client asks for it (`stream_options: { include_usage: true }`).
    createStreamTap() {
      /** @type {import('@tollgate/core').Usage | undefined} */
      let usage;
      /** @type {import('@tollgate/core').ResponseInfo | undefined} */
      let response;
      /** @type {{ type: string, message: string } | undefined} */
      let error;
      return {
        onEvent(ev) {
          if (ev.data === '[DONE]') return;
          const chunk = JSON.parse(ev.data);
          if (chunk.error) error = { type: chunk.error.type ?? 'api_error', message: chunk.error.message ?? '' };
          response ??= { id: chunk.id, model: chunk.model };
          if (chunk.usage) usage = usageOf(chunk.usage);
        },
        usage: () => usage,
        response: () => response,
        error: () => error,
      };
    },
    // The first chunk with text (the first one usually carries only the role and "").
    isContentEvent: (ev) => /"content":"[^"]/.test(ev.data),
    isJsonLines: () => false,
    rewritesResponse: () => false,
    rewriteResponse: (body) => body,
  };
}

/** @type {import('@tollgate/core').PluginDefinition<{ baseUrl: string, apiKey: string | null, mountPath: string, timeoutMs: number }>} */
export default definePlugin({
  name: 'openai-provider',
  priority: 500,
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      baseUrl: { type: 'string', pattern: '^https?://', default: 'https://api.openai.com' },
      apiKey: { type: ['string', 'null'], minLength: 1, default: null },
      mountPath: { type: 'string', default: '/openai' },
      timeoutMs: { type: 'integer', minimum: 1, default: 600000 },
    },
  },
  setup(api) {
    api.provider(createOpenAiAdapter(api.config));
  },
});
