import { describe, it, expect } from 'vitest';
import {
  errorBody,
  errorEvent,
  errorReply,
  estimateInputTokens,
  estimateTokens,
  messageJson,
  messageStreamEvents,
  randomId,
} from './anthropic-fixtures.js';

const noCache = { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 };

describe('messageJson', () => {
  it('builds a Message with defaults', () => {
    expect(messageJson({ id: 'msg_1' })).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5-20250929',
      content: [{ type: 'text', text: 'Hello from mock' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: noCache,
        output_tokens: 4,
        service_tier: 'standard',
      },
    });
  });

  it('joins delta arrays and applies usage overrides', () => {
    const message = messageJson({ model: 'm', text: ['a', 'b'], usage: { input_tokens: 7, cache_read_input_tokens: 3 } });
    expect(message.content).toEqual([{ type: 'text', text: 'ab' }]);
    expect(message.model).toBe('m');
    expect(message.usage).toEqual({
      input_tokens: 7,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 3,
      cache_creation: noCache,
      output_tokens: 1,
      service_tier: 'standard',
    });
  });

  it('generates msg_ ids', () => {
    expect(messageJson().id).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(randomId('req_')).toMatch(/^req_[0-9a-f]{24}$/);
  });
});

describe('messageStreamEvents', () => {
  it('emits the Anthropic event sequence', () => {
    const events = messageStreamEvents({ id: 'msg_1', model: 'm', text: 'Hi there', usage: { input_tokens: 5, output_tokens: 9 } });
    expect(events).toEqual([
      {
        event: 'message_start',
        data: {
          type: 'message_start',
          message: {
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            model: 'm',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: {
              input_tokens: 5,
              cache_creation_input_tokens: 0,
              cache_read_input_tokens: 0,
              cache_creation: noCache,
              output_tokens: 1,
              service_tier: 'standard',
            },
          },
        },
      },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
      { event: 'ping', data: { type: 'ping' } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' there' } } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      {
        event: 'message_delta',
        data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 9 } },
      },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ]);
  });

  it('splits default text into word deltas that concatenate exactly', () => {
    const deltas = messageStreamEvents({ text: ' a  b ' })
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => (e.data as { delta: { text: string } }).delta.text);
    expect(deltas).toEqual([' a', '  b', ' ']);
  });

  it('uses array text as the exact deltas', () => {
    const deltas = messageStreamEvents({ text: ['x', 'y', 'z'] }).filter((e) => e.event === 'content_block_delta');
    expect(deltas.length).toBe(3);
  });
});

describe('errors and estimates', () => {
  it('builds error bodies, events and replies', () => {
    expect(errorBody('overloaded_error', 'Overloaded')).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(errorEvent('api_error', 'boom')).toEqual({ event: 'error', data: { type: 'error', error: { type: 'api_error', message: 'boom' } } });
    expect(errorReply('rate_limit_error', 'slow down')).toEqual({
      status: 429,
      json: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
    });
    expect(errorReply('weird_error', 'x').status).toBe(500);
    expect(errorReply('api_error', 'x', 503).status).toBe(503);
  });

  it('estimates tokens deterministically', () => {
    expect(estimateTokens('')).toBe(1);
    expect(estimateTokens('12345')).toBe(2);
    // JSON.stringify([null, [{role:'user',content:'hi'}], null]) is 44 chars
    expect(estimateInputTokens({ model: 'm', max_tokens: 9, messages: [{ role: 'user', content: 'hi' }] })).toBe(11);
  });
});
