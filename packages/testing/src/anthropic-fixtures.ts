import { randomBytes } from 'node:crypto';
import type { SseEventSpec } from './sse.js';

/** Usage block of an Anthropic Message (key order as the API sends it). */
export interface Usage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  output_tokens: number;
  service_tier: 'standard' | 'priority' | 'batch';
}

export interface MessageFixtureOptions {
  model?: string;
  /** Reply text; an array is the list of streaming text deltas (joined for the non-streaming form). */
  text?: string | string[];
  usage?: Partial<Usage>;
  id?: string;
  stopReason?: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal';
}

export interface ModelInfo {
  type: 'model';
  id: string;
  display_name: string;
  created_at: string;
}

export const DEFAULT_MODEL = 'claude-sonnet-4-5-20250929';
export const DEFAULT_TEXT = 'Hello from mock';
export const DEFAULT_INPUT_TOKENS = 10;

/** Models served by `GET /v1/models`, newest first like the real API. */
export const MOCK_MODELS: readonly ModelInfo[] = [
  model('claude-haiku-4-5-20251001', 'Claude Haiku 4.5', '2025-10-15T00:00:00Z'),
  model('claude-sonnet-4-5-20250929', 'Claude Sonnet 4.5', '2025-09-29T00:00:00Z'),
  model('claude-opus-4-1-20250805', 'Claude Opus 4.1', '2025-08-05T00:00:00Z'),
  model('claude-3-5-haiku-20241022', 'Claude Haiku 3.5', '2024-10-22T00:00:00Z'),
];

/** HTTP status the API uses for each error type. */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** `prefix` + 24 random hex chars, e.g. `randomId('msg_')`. */
export function randomId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}

/** Deterministic token estimate: ceil(chars / 4), at least 1. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Deterministic input-token count of request params (system + messages + tools), used by count_tokens and default usage. */
export function estimateInputTokens(params: unknown): number {
  const p = (params ?? {}) as Record<string, unknown>;
  return estimateTokens(JSON.stringify([p.system ?? null, p.messages ?? null, p.tools ?? null]));
}

/** A full usage block; defaults: 10 input tokens, output estimated from `text`, no cache, standard tier. */
export function usage(overrides: Partial<Usage> = {}, text: string = DEFAULT_TEXT): Usage {
  return {
    input_tokens: overrides.input_tokens ?? DEFAULT_INPUT_TOKENS,
    cache_creation_input_tokens: overrides.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: overrides.cache_read_input_tokens ?? 0,
    cache_creation: overrides.cache_creation ?? { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: overrides.output_tokens ?? estimateTokens(text),
    service_tier: overrides.service_tier ?? 'standard',
  };
}

/** A non-streaming Message object. */
export function messageJson(opts: MessageFixtureOptions = {}) {
  const text = joinText(opts.text);
  return {
    id: opts.id ?? randomId('msg_'),
    type: 'message' as const,
    role: 'assistant' as const,
    model: opts.model ?? DEFAULT_MODEL,
    content: [{ type: 'text' as const, text }],
    stop_reason: opts.stopReason ?? 'end_turn',
    stop_sequence: null,
    usage: usage(opts.usage, text),
  };
}

/**
 * The events of a streamed Message, in API order: message_start (input-side usage, output_tokens 1),
 * content_block_start, ping, one content_block_delta per text delta, content_block_stop,
 * message_delta (final output_tokens), message_stop. A string `text` is split into word deltas.
 */
export function messageStreamEvents(opts: MessageFixtureOptions = {}): SseEventSpec[] {
  const deltas = splitDeltas(opts.text);
  const full = usage(opts.usage, deltas.join(''));
  const message = messageJson({ ...opts, text: '' });
  return [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: { ...message, content: [], stop_reason: null, usage: { ...full, output_tokens: 1 } },
      },
    },
    { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
    { event: 'ping', data: { type: 'ping' } },
    ...deltas.map((text) => ({
      event: 'content_block_delta',
      data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
    })),
    { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
    {
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: opts.stopReason ?? 'end_turn', stop_sequence: null },
        usage: { output_tokens: full.output_tokens },
      },
    },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ];
}

/** The `{type:'error', error:{type, message}}` body the API returns for errors. */
export function errorBody(type: string, message: string) {
  return { type: 'error' as const, error: { type, message } };
}

/** A mid-stream `event: error`. */
export function errorEvent(type: string, message: string): SseEventSpec {
  return { event: 'error', data: errorBody(type, message) };
}

/** A JSON error reply with the API's status for `type` (see ERROR_STATUS; unknown types → 500). */
export function errorReply(type: string, message: string, status = ERROR_STATUS[type] ?? 500) {
  return { status, json: errorBody(type, message) };
}

function joinText(text: string | string[] | undefined): string {
  return Array.isArray(text) ? text.join('') : (text ?? DEFAULT_TEXT);
}

function splitDeltas(text: string | string[] | undefined): string[] {
  if (Array.isArray(text)) return text;
  return (text ?? DEFAULT_TEXT).match(/\s*\S+|\s+$/g) ?? [];
}

function model(id: string, display_name: string, created_at: string): ModelInfo {
  return { type: 'model', id, display_name, created_at };
}
