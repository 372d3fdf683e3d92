/** One server-sent event. Object `data` is JSON-serialised; string `data` is written as-is (no escaping). */
export interface SseEventSpec {
  event: string;
  data: unknown;
}

/** Wire form of one event: `event: NAME\ndata: DATA\n\n`. */
export function serializeSseEvent(spec: SseEventSpec): string {
  const data = typeof spec.data === 'string' ? spec.data : JSON.stringify(spec.data);
  return `event: ${spec.event}\ndata: ${data}\n\n`;
}

/** Wire form of a whole stream (the events concatenated). */
export function serializeSseEvents(specs: readonly SseEventSpec[]): string {
  return specs.map(serializeSseEvent).join('');
}

/**
 * Parses an SSE stream back into events (the inverse of `serializeSseEvents` for JSON data).
 * Multiple `data:` lines are joined with `\n`; data that parses as JSON is returned parsed.
 * Events without an `event:` field get the name `message`; comments (`:`) are skipped;
 * a trailing event without its terminating blank line is incomplete and dropped.
 */
export function parseSseEvents(text: string): SseEventSpec[] {
  const events: SseEventSpec[] = [];
  const blocks = text.replace(/\r\n?/g, '\n').split('\n\n');
  blocks.pop(); // '' for a complete stream, otherwise an unterminated event
  for (const block of blocks) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) events.push({ event, data: parseMaybeJson(data.join('\n')) });
  }
  return events;
}

function parseMaybeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
