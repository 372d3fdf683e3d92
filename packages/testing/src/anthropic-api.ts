import {
  errorReply,
  estimateInputTokens,
  MOCK_MODELS,
  messageJson,
  messageStreamEvents,
} from './anthropic-fixtures.js';
import type { CostReportStore } from './cost-report.js';
import { batchesApi, type MessageBatchStore } from './message-batches.js';
import { paginate } from './pagination.js';
import type { RecordedRequest } from './recorded-request.js';
import type { Reply } from './reply.js';

export interface AnthropicApiContext {
  /** The mock's own URL (used for batch `results_url`). */
  baseUrl: string;
  batches: MessageBatchStore;
  /** Serves the Admin API's cost report; without it that route is a 404. */
  costReport?: CostReportStore;
}

/** The default (unrouted) behaviour: a small, realistic Anthropic API. */
export function anthropicApi(req: RecordedRequest, ctx: AnthropicApiContext): Reply {
  const [pathname, search = ''] = req.path.split('?');
  const route = `${req.method} ${pathname}`;
  if (route === 'POST /v1/messages') return createMessage(req);
  if (route === 'POST /v1/messages/count_tokens') return countTokens(req);
  if (route === 'GET /v1/organizations/cost_report' && ctx.costReport) return ctx.costReport.reply(req);
  if (route === 'GET /v1/models') return { json: paginate(MOCK_MODELS, new URLSearchParams(search)) };
  const modelId = /^\/v1\/models\/([^/]+)$/.exec(pathname)?.[1];
  if (req.method === 'GET' && modelId !== undefined) {
    const model = MOCK_MODELS.find((m) => m.id === modelId);
    return model ? { json: model } : errorReply('not_found_error', `model: ${modelId}`);
  }
  return batchesApi(ctx.batches, req, pathname, ctx.baseUrl) ?? errorReply('not_found_error', `Not found: ${pathname}`);
}

function createMessage(req: RecordedRequest): Reply {
  const { params, error } = requestParams(req);
  if (error) return error;
  if (typeof params.model !== 'string') return errorReply('invalid_request_error', 'model: Field required');
  const opts = { model: params.model, usage: { input_tokens: estimateInputTokens(params) } };
  return params.stream === true ? { sse: messageStreamEvents(opts) } : { json: messageJson(opts) };
}

function countTokens(req: RecordedRequest): Reply {
  const { params, error } = requestParams(req);
  if (error) return error;
  return { json: { input_tokens: estimateInputTokens(params) } };
}

/** The JSON object body, or a 400 reply when the body is not one. */
function requestParams(req: RecordedRequest): { params: Record<string, unknown>; error?: Reply } {
  const params: unknown = req.json();
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    return { params: {}, error: errorReply('invalid_request_error', 'Request body must be a JSON object') };
  }
  return { params: params as Record<string, unknown> };
}
