import { describe, it, expect } from 'vitest';
import { parseSseEvents, serializeSseEvent, serializeSseEvents } from './sse.js';

describe('serializeSseEvent', () => {
  it('JSON-serialises object data', () => {
    expect(serializeSseEvent({ event: 'ping', data: { type: 'ping' } })).toBe('event: ping\ndata: {"type":"ping"}\n\n');
  });

  it('writes string data as-is', () => {
    expect(serializeSseEvent({ event: 'x', data: 'not json' })).toBe('event: x\ndata: not json\n\n');
  });

  it('concatenates a stream', () => {
    const text = serializeSseEvents([
      { event: 'a', data: { n: 1 } },
      { event: 'b', data: 'two' },
    ]);
    expect(text).toBe('event: a\ndata: {"n":1}\n\nevent: b\ndata: two\n\n');
  });
});

describe('parseSseEvents', () => {
  it('inverts serializeSseEvents', () => {
    const events = [
      { event: 'a', data: { n: 1 } },
      { event: 'b', data: 'two' },
    ];
    expect(parseSseEvents(serializeSseEvents(events))).toEqual(events);
  });

  it('handles CRLF, comments, multi-line data, default event name and drops an unterminated tail', () => {
    const text = ': comment\r\ndata: line1\r\ndata: line2\r\n\r\nevent: e\ndata:{"a":1}\n\nevent: cut\ndata: {"par';
    expect(parseSseEvents(text)).toEqual([
      { event: 'message', data: 'line1\nline2' },
      { event: 'e', data: { a: 1 } },
    ]);
  });
});
