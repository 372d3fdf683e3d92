// Fixed request/response payloads shared by the mock upstream and the load generator.
// Shapes follow the Anthropic Messages API; sizes are what the README states (~300 B request,
// ~600 B response), checked by `node bench/lib/fixtures.mjs`.

export const MODEL = 'claude-sonnet-4-5-20250929';

/** ~300-byte Messages request body. */
export function requestBody({ stream = false } = {}) {
  const body = {
    model: MODEL,
    max_tokens: 1024,
    ...(stream ? { stream: true } : {}),
    system: 'You are a concise assistant. Answer in one short paragraph.',
    messages: [
      {
        role: 'user',
        content:
          'Summarise the trade-offs of connection pooling for an HTTP proxy that forwards LLM traffic.',
      },
    ],
    metadata: { user_id: 'bench-user-0001' },
  };
  return JSON.stringify(body);
}

/** Headers the load generator sends to every target (the mock ignores the key). */
export const CLIENT_HEADERS = {
  'x-api-key': 'sk-master-bench',
  'anthropic-version': '2023-06-01',
  'content-type': 'application/json',
};

const REPLY_TEXT =
  'Pooling amortises TCP and TLS setup across requests and caps upstream sockets, but a slow stream can hold a pooled connection and queue others behind it. Per-request connections cost handshake latency.';

const USAGE_IN = { input_tokens: 58, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 } };

/** ~600-byte non-streaming Message. */
export const MESSAGE_JSON = JSON.stringify({
  id: 'msg_01Bench7QwSNbYzJd9fXq2Ka',
  type: 'message',
  role: 'assistant',
  model: MODEL,
  content: [{ type: 'text', text: REPLY_TEXT }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { ...USAGE_IN, output_tokens: 61, service_tier: 'standard' },
});

/** Response headers a real upstream sends (besides content-type/length). */
export const UPSTREAM_HEADERS = {
  'request-id': 'req_01BenchUpstream0000000000',
  'anthropic-organization-id': '00000000-0000-4000-8000-000000000000',
  'anthropic-ratelimit-requests-limit': '4000',
  'anthropic-ratelimit-requests-remaining': '3999',
  'anthropic-ratelimit-requests-reset': '2025-01-01T00:00:00Z',
  'anthropic-ratelimit-tokens-limit': '2000000',
  'anthropic-ratelimit-tokens-remaining': '1999000',
};

const sse = (event, data) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * The SSE events of one streamed Message, as strings, with `deltas` text deltas:
 * message_start, content_block_start, ping, N × content_block_delta, content_block_stop,
 * message_delta (with usage), message_stop.
 */
export function streamEvents(deltas) {
  const words = REPLY_TEXT.split(' ');
  const per = Math.max(1, Math.ceil(words.length / deltas));
  const events = [
    sse('message_start', {
      type: 'message_start',
      message: { id: 'msg_01Bench7QwSNbYzJd9fXq2Kb', type: 'message', role: 'assistant', model: MODEL, content: [], stop_reason: null, stop_sequence: null, usage: { ...USAGE_IN, output_tokens: 1, service_tier: 'standard' } },
    }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('ping', { type: 'ping' }),
  ];
  for (let i = 0; i < deltas; i++) {
    const chunk = words.slice((i * per) % words.length, ((i * per) % words.length) + per).join(' ') + ' ';
    events.push(sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: chunk } }));
  }
  events.push(
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 61 } }),
    sse('message_stop', { type: 'message_stop' }),
  );
  return events;
}

/** Marker the load generator looks for to time the first content delta. */
export const FIRST_DELTA_MARKER = 'event: content_block_delta';

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('request bytes', Buffer.byteLength(requestBody()), 'stream request bytes', Buffer.byteLength(requestBody({ stream: true })));
  console.log('message bytes', Buffer.byteLength(MESSAGE_JSON));
  console.log('stream events (10 deltas)', streamEvents(10).length, 'bytes', Buffer.byteLength(streamEvents(10).join('')));
}
