import { describe, expect, it } from 'vitest';
import { GatewayError } from './errors.js';
import { memberValue, scanJsonObject, withoutMember } from './json-scan.js';

const KEYS = new Set(['model', 'stream', 'litellm_metadata']);
const scan = (text: string | Buffer, maxDepth = 64) => scanJsonObject(Buffer.isBuffer(text) ? text : Buffer.from(text), { keys: KEYS, maxDepth });

async function refusal(text: string | Buffer, maxDepth = 64): Promise<string> {
  try {
    await scan(text, maxDepth);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('TG_ERR_INVALID_JSON');
    return (err as GatewayError).message;
  }
  throw new Error('expected a refusal');
}

describe('scanJsonObject', () => {
  it('finds the wanted top-level members, not nested ones with the same name', async () => {
    const text = '{"messages":[{"model":"nested","content":"a \\"quoted\\" \\\\"}], "model" : "claude-x","stream":true,"m\\u006fdel2":{"stream":false}}';
    const body = Buffer.from(text);
    const found = await scan(body);
    expect([...found.keys()]).toEqual(['model', 'stream']);
    expect(memberValue(body, found.get('model')!)).toBe('claude-x');
    expect(memberValue(body, found.get('stream')!)).toBe(true);
    expect(JSON.parse(text).model).toBe('claude-x');
  });

  it.each([
    ['first', '{"litellm_metadata":{"tags":["a"]}, "model":"m","x":[1]}', '{"model":"m","x":[1]}'],
    ['middle', '{"model":"m",\n  "litellm_metadata" : {"user":"u"},\n  "x":[1]}', '{"model":"m",\n  "x":[1]}'],
    ['last', '{"model":"m","x":[1] ,"litellm_metadata":null }', '{"model":"m","x":[1] }'],
    ['only', '{ "litellm_metadata":{} }', '{  }'],
  ])('cuts litellm_metadata out when it is %s, the rest byte for byte', async (_where, text, expected) => {
    const body = Buffer.from(text);
    const found = await scan(body);
    const out = withoutMember(body, found.get('litellm_metadata')!).toString();
    expect(out).toBe(expected);
    expect(() => JSON.parse(out)).not.toThrow();
  });

  it('refuses a wanted key given twice, even when the values agree', async () => {
    expect(await refusal('{"model":"a","x":1,"model":"a"}')).toBe('the request body has the key "model" more than once');
    // Keys the gateway does not read may repeat: the upstream decides about them.
    expect(await scan('{"x":1,"x":2,"model":"a"}')).toBeInstanceOf(Map);
  });

  it('matches wanted keys by their text, however they are spelt: escapes, long names, non-ASCII', async () => {
    // An escaped spelling is the same key: twice is refused, once is found.
    expect(await refusal('{"mod\\u0065l":"a","model":"b"}')).toBe('the request body has the key "model" more than once');
    const escaped = Buffer.from('{"x":1,"str\\u0065am":true}');
    expect(memberValue(escaped, (await scan(escaped)).get('stream')!)).toBe(true);
    // Same length as a wanted key, other bytes; a prefix of one; an escape making another key.
    expect([...(await scan('{"mode1":1,"strea":2,"modem":3,"stream\\n":4}')).keys()]).toEqual([]);
    const keys = new Set(['a_key_name_longer_than_twenty_four_bytes', 'modèle']);
    const body = Buffer.from('{"modèle":"m","a_key_name_longer_than_twenty_four_bytes":2,"modele":3}');
    const found = await scanJsonObject(body, { keys, maxDepth: 8 });
    expect([...found.keys()]).toEqual(['modèle', 'a_key_name_longer_than_twenty_four_bytes']);
    expect(memberValue(body, found.get('modèle')!)).toBe('m');
  });

  it('refuses nesting past the limit without recursion, at any depth', async () => {
    expect(await refusal(`{"a":${'['.repeat(64)}${']'.repeat(64)}}`)).toBe('request body is nested deeper than 64 levels');
    expect(await scan(`{"a":${'['.repeat(62)}${']'.repeat(62)}}`)).toBeInstanceOf(Map);
    const deep = `{"litellm_metadata":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`;
    expect(await refusal(deep, 256)).toBe('request body is nested deeper than 256 levels');
  });

  it.each([
    ['[1,2]', 'request body must be a JSON object'],
    ['"x"', 'request body must be a JSON object'],
    ['{"model":', 'the JSON body ends before the object does'],
    ['{"model":"x"', 'the JSON body ends before the object does'],
    ['{"model":"x}', 'a string in the JSON body is not terminated'],
    ['{"a":1}{', 'unexpected data after the JSON object at byte 7'],
    ['{"a":1]', 'request body is not valid JSON: unexpected "]" at byte 6'],
    ['{"a" 1}', 'request body is not valid JSON: unexpected "1" at byte 5'],
    ['{a:1}', 'request body is not valid JSON: unexpected "a" at byte 1'],
    ['{"a":1,}', 'request body is not valid JSON: unexpected "}" at byte 7'],
  ])('refuses %s', async (text, message) => {
    expect(await refusal(text)).toBe(message);
  });

  it('checks only brackets and strings inside member values: the upstream judges the rest', async () => {
    // Not JSON, but its top level is sound and it is shallow: forwarded, the upstream answers.
    expect(await scan('{"a":[1}, "model":"m"}')).toBeInstanceOf(Map);
  });

  it('scans a body larger than one slice across turns of the event loop, with the same result', async () => {
    const big = JSON.stringify({ system: 'x'.repeat(300_000), tools: Array.from({ length: 2000 }, (_, i) => ({ name: `t${i}`, schema: { type: 'object', properties: { a: { type: 'string' } } } })), model: 'm', stream: true });
    const result = scan(big);
    expect(result).toBeInstanceOf(Promise);
    const found = await result;
    expect(memberValue(Buffer.from(big), found.get('model')!)).toBe('m');
    expect(found.get('stream')!.valueEnd - found.get('stream')!.valueStart).toBe(4);
    expect(scan('{"model":"m"}')).toBeInstanceOf(Map);
  });
});
