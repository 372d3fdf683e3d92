import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

/** The same scan by each skipper: its members (as [key, offsets]) or its refusal. */
async function outcome(body: Buffer, skipper: 'js' | 'wasm' | 'auto', maxDepth = 32): Promise<unknown> {
  try {
    return [...(await scanJsonObject(body, { keys: KEYS, maxDepth, skipper })).entries()];
  } catch (err) {
    return (err as Error).message;
  }
}

/** A random JSON value: nesting, brackets and quotes inside strings, escapes, runs of backslashes, long strings. */
function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 0 && r < 0.3) return Array.from({ length: Math.floor(rand() * 5) }, () => randomValue(rand, depth - 1));
  if (depth > 0 && r < 0.6) return Object.fromEntries(Array.from({ length: Math.floor(rand() * 5) }, (_, i) => [randomString(rand, 12) + i, randomValue(rand, depth - 1)]));
  if (r < 0.9) return randomString(rand, rand() < 0.2 ? 400 : 40);
  return [1.5e3, true, null, -2][Math.floor(rand() * 4)];
}

function randomString(rand: () => number, max: number): string {
  const pieces = ['a', 'bc', ' ', '"', '\\', '\\\\', '\\"', '[', ']', '{', '}', 'é', '\n', 'x'.repeat(40)];
  let s = '';
  for (let n = Math.floor(rand() * max); s.length < n; ) s += pieces[Math.floor(rand() * pieces.length)];
  return s;
}

/** A seeded generator (mulberry32), so a failure names the case that shows it. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the WebAssembly skipper', () => {
  it('gives what the JavaScript loop gives on random bodies, valid and broken', async () => {
    const rand = seeded(18);
    for (let n = 0; n < 300; n++) {
      const doc = { messages: randomValue(rand, 6), model: 'm', tools: randomValue(rand, 8), stream: rand() < 0.5 };
      let text = JSON.stringify(doc);
      // Every third body is broken: cut short, a byte dropped, or a quote or bracket put in.
      const at = Math.floor(rand() * text.length);
      if (n % 3 === 1) text = text.slice(0, at);
      if (n % 3 === 2) text = text.slice(0, at) + ['', '"', '[', '}', '\\'][n % 5] + text.slice(at + 1);
      const body = Buffer.from(text);
      const js = await outcome(body, 'js');
      expect({ n, out: await outcome(body, 'wasm') }).toEqual({ n, out: js });
      expect({ n, out: await outcome(body, 'auto') }).toEqual({ n, out: js });
      if (n % 3 === 0) expect(js).not.toBeTypeOf('string');
    }
  });

  it('carries a string, an escape and the nesting across slices and chunks', async () => {
    // An escape whose backslash lands on each byte around where a chunk copied into the
    // skipper's memory ends (4 KB, then 8 KB more, after the value's bracket) and where the
    // scan's 128 KB slice ends, in a string nested three deep; and the same with the escape at
    // the end of a run of backslashes.
    const head = '{"model":"m","messages":[{"content":["';
    const value = head.indexOf('[') + 1;
    for (const [boundary, escape] of [4096 + value, 12288 + value, 128 * 1024].flatMap((b) => [[b, '\\"'], [b, '\\\\\\\\\\"']] as const)) {
      for (let shift = -4; shift <= 4; shift++) {
        const pad = 'p'.repeat(boundary + shift - head.length);
        const text = `${head}${pad}${escape}[{tail"]}],"x":{"y":[1,2]},"stream":true}`;
        const body = Buffer.from(text);
        const js = await outcome(body, 'js');
        expect(js).toEqual([
          ['model', expect.anything()],
          ['stream', expect.anything()],
        ]);
        expect(await outcome(body, 'wasm')).toEqual(js);
        expect(await outcome(body, 'auto')).toEqual(js);
      }
    }
  });

  it('keeps each scan apart when large scans interleave (one WebAssembly instance, state per scan)', async () => {
    // Bodies over 128 KB are scanned in slices with turns of the event loop between them, so
    // these four take turns at the skipper, each paused inside a string or an escape.
    const bodies = [0, 1, 2, 3].map((k) => {
      const content = `${'\\"'.repeat(k + 1)}${'x'.repeat(150_000 + k * 7_919)}[{`;
      return Buffer.from(JSON.stringify({ model: `m${k}`, messages: [{ content }], tools: [{ k }], stream: k % 2 === 0 }));
    });
    const alone = [];
    for (const body of bodies) alone.push(await outcome(body, 'wasm'));
    expect(await Promise.all(bodies.map((body) => outcome(body, 'wasm')))).toEqual(alone);
    expect(alone).toEqual(await Promise.all(bodies.map((body) => outcome(body, 'js'))));
    expect(alone.map((found) => (found as [string, unknown][]).map(([key]) => key))).toEqual(Array(4).fill(['model', 'stream']));
  });

  it('refuses nesting past the limit, and a string the body ends in, as the loop does', async () => {
    const deep = Buffer.from(`{"x":${'['.repeat(40)}${'"s",'.repeat(200)}1${']'.repeat(40)}}`);
    expect(await outcome(deep, 'wasm')).toBe('request body is nested deeper than 32 levels');
    expect(await outcome(deep, 'js')).toBe('request body is nested deeper than 32 levels');
    const open = Buffer.from(`{"x":["${'a'.repeat(1000)}`);
    expect(await outcome(open, 'wasm')).toBe('a string in the JSON body is not terminated');
    expect(await outcome(open, 'js')).toBe('a string in the JSON body is not terminated');
  });

  it('is assembled from json-skip.wat as committed (scripts/build-wasm.mjs --check)', () => {
    const script = fileURLToPath(new URL('../scripts/build-wasm.mjs', import.meta.url));
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
