export { createMockUpstream, type MockUpstream, type MockUpstreamOptions } from './mock-upstream.js';
export type { RecordedRequest } from './recorded-request.js';
export type {
  Reply,
  ReplyFn,
  ReplyHeaders,
  JsonReply,
  BodyReply,
  SseReply,
  ChunksReply,
  HangUpReply,
  HangReply,
  HandlerReply,
  WriteInfo,
} from './reply.js';
export type { RouteReply } from './route-table.js';
export { serializeSseEvent, serializeSseEvents, parseSseEvents, type SseEventSpec } from './sse.js';
export { ssePieces } from './send-reply.js';
export {
  DEFAULT_INPUT_TOKENS,
  DEFAULT_MODEL,
  DEFAULT_TEXT,
  ERROR_STATUS,
  MOCK_MODELS,
  errorBody,
  errorEvent,
  errorReply,
  estimateInputTokens,
  estimateTokens,
  messageJson,
  messageStreamEvents,
  randomId,
  usage,
  type MessageFixtureOptions,
  type ModelInfo,
  type Usage,
} from './anthropic-fixtures.js';
export {
  BATCH_RESULTS_CONTENT_TYPE,
  MessageBatchStore,
  type BatchRequest,
  type MessageBatch,
} from './message-batches.js';
export { paginate, type Page } from './pagination.js';
export { CostReportStore, type CostEntry } from './cost-report.js';
export { rawRequest, type RawRequestOptions, type RawResponse } from './raw-client.js';
export { until } from './until.js';
export { createTcpRelay, type RelayMode, type TcpRelay } from './tcp-relay.js';
