import { describe, expect, it } from 'vitest';
import { captureBody, parsePath, redact, REDACTED } from './capture.js';

describe('redaction', () => {
  it('parses dot and bracket paths alike', () => {
    expect(parsePath('messages[*].content')).toEqual(['messages', '*', 'content']);
    expect(parsePath('messages.0.content')).toEqual(['messages', '0', 'content']);
    expect(parsePath('a[12].b')).toEqual(['a', '12', 'b']);
  });

  it('redacts configured paths (with * over keys and indices) and always-secret names at any depth, on a copy', () => {
    const body = {
      model: 'm',
      system: 'secret prompt',
      messages: [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'two' },
      ],
      metadata: { user_id: 'u1', api_key: 'k1', nested: { Authorization: 'Bearer x', 'X-API-KEY': 'k2', apiKey: 'k3' } },
      litellm_metadata: { user: 'ann', tags: ['a'] },
    };
    const original = structuredClone(body);
    const out = redact(body, ['system', 'messages.*.content'].map(parsePath));
    expect(out).toEqual({
      model: 'm',
      system: REDACTED,
      messages: [
        { role: 'user', content: REDACTED },
        { role: 'assistant', content: REDACTED },
      ],
      metadata: { user_id: 'u1', api_key: REDACTED, nested: { Authorization: REDACTED, 'X-API-KEY': REDACTED, apiKey: REDACTED } },
      litellm_metadata: { user: 'ann', tags: ['a'] },
    });
    expect(body).toEqual(original);
  });

  it('a path through an index hits only that element; a missing path changes nothing', () => {
    const out = redact({ messages: [{ content: 'a' }, { content: 'b' }] }, [parsePath('messages[1].content'), parsePath('nope.deeper')]);
    expect(out).toEqual({ messages: [{ content: 'a' }, { content: REDACTED }] });
  });
});

describe('captureBody', () => {
  it('keeps a body under the cap whole', () => {
    expect(captureBody({ a: 'b' }, [], 64)).toEqual({ text: '{"a":"b"}', truncated: false });
  });

  it('cuts at the byte cap on a UTF-8 character boundary', () => {
    // '{"t":"' is 6 bytes and each 'é' two: a cut at byte 65 falls inside one and goes back to 64.
    const text = JSON.stringify({ t: 'é'.repeat(100) });
    const cut = captureBody({ t: 'é'.repeat(100) }, [], 65);
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(cut.text)).toBe(64);
    expect(text.startsWith(cut.text)).toBe(true);
    expect(cut.text).not.toContain('\uFFFD');
  });

  it('cuts a huge string without serializing all of it, and the result is the same prefix', () => {
    const big = 'x'.repeat(5_000_000);
    const cut = captureBody({ image: big, after: 1 }, [], 100);
    expect(cut).toEqual({ text: `{"image":"${'x'.repeat(90)}`, truncated: true });
  });
});
