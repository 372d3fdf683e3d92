import { setImmediate as nextTurn } from 'node:timers/promises';
import { GatewayError } from './errors.js';
import { skipInValue, type SkipState } from './json-skip.js';

/** Where one top-level member of a JSON object sits in the bytes (offsets into the body). */
export interface JsonMember {
  /** Offset of the key's opening quote. */
  keyStart: number;
  valueStart: number;
  /** One past the value's last byte. */
  valueEnd: number;
  /** End of the previous member's value; -1 for the first member. */
  prevEnd: number;
  /** Offset of the next member's key; -1 for the last member. */
  nextStart: number;
}

export interface JsonScanOptions {
  /**
   * The top-level keys to locate; each may appear at most once (a duplicate is a 400). Compiled
   * once per set, so pass the same, unchanging set on every call.
   */
  keys: ReadonlySet<string>;
  /** Deepest nesting allowed (the top-level object is depth 1); deeper is a 400. */
  maxDepth: number;
  /**
   * What skips member values: `auto` (the default) the WebAssembly skipper for stretches of
   * WASM_MIN_BYTES or more and a JavaScript loop for shorter ones; `js` and `wasm` force one (tests).
   */
  skipper?: 'auto' | 'js' | 'wasm';
}

/** Below this many bytes, copying them into WebAssembly memory costs more than it saves. */
const WASM_MIN_BYTES = 512;

/** Bytes scanned between two turns of the event loop. */
const SLICE_BYTES = 128 * 1024;

const OBJECT = 0;
const ARRAY = 1;
const enum S {
  Value,
  ValueOrClose,
  Key,
  KeyOrClose,
  Colon,
  CommaOrClose,
  Done,
}

/**
 * Checks that `body` is one JSON object (its top level fully: keys, colons, commas; inside
 * member values only brackets and strings, the upstream checks the rest) no deeper than
 * `maxDepth`, and finds where the wanted top-level
 * members are, without building any value. Iterative, so no depth overflows the stack, and a
 * large body is scanned in slices with a turn of the event loop between them, so it never
 * blocks other requests for long. Returns synchronously when the body fits in one slice.
 *
 * @example
 * const found = await scanJsonObject(body, { keys: new Set(['model']), maxDepth: 256 });
 * const model = found.get('model'); // { keyStart, valueStart, valueEnd, … } or undefined
 */
export function scanJsonObject(body: Buffer, options: JsonScanOptions): Map<string, JsonMember> | Promise<Map<string, JsonMember>> {
  const scan = new Scanner(body, options);
  scan.run(Math.min(body.length, SLICE_BYTES));
  if (scan.i >= body.length) return scan.finish();
  return (async () => {
    while (scan.i < body.length) {
      await nextTurn();
      scan.run(Math.min(body.length, scan.i + SLICE_BYTES));
    }
    return scan.finish();
  })();
}

/**
 * A value's bytes parsed as JSON (for the few small top-level values the gateway reads).
 *
 * @example
 * const model = memberValue(body, found.get('model')!); // 'claude-sonnet-4-5'
 */
export function memberValue(body: Buffer, member: JsonMember): unknown {
  return JSON.parse(body.toString('utf8', member.valueStart, member.valueEnd));
}

/**
 * The body without one member: the rest byte for byte, and still one valid JSON object.
 *
 * @example
 * withoutMember(Buffer.from('{"a":1,"b":2}'), found.get('b')!).toString(); // '{"a":1}'
 */
export function withoutMember(body: Buffer, m: JsonMember): Buffer {
  // Cut the comma before it when there is one; else the comma after it (up to the next key).
  if (m.prevEnd !== -1) return Buffer.concat([body.subarray(0, m.prevEnd), body.subarray(m.valueEnd)]);
  if (m.nextStart !== -1) return Buffer.concat([body.subarray(0, m.keyStart), body.subarray(m.nextStart)]);
  return Buffer.concat([body.subarray(0, m.keyStart), body.subarray(m.valueEnd)]);
}

class Scanner {
  i = 0;
  private state = S.Value;
  private depth = 0;
  private readonly stack: Uint8Array;
  private readonly found = new Map<string, JsonMember>();
  /** Open brackets inside the member value being skipped (depth 0: not inside one), and its string state. */
  private readonly value: SkipState = { depth: 0, str: 0 };
  /** The top-level member being read. */
  private key: string | undefined;
  private keyStart = -1;
  private valueStart = -1;
  private prevEnd = -1;
  private last: JsonMember | undefined;
  /** The string skipped last is short and has no escape, so its bytes are its text. */
  private plain = false;

  constructor(
    private readonly b: Buffer,
    private readonly options: JsonScanOptions,
  ) {
    // Only the top level is tracked bracket by bracket; member values are skipped by count.
    this.stack = new Uint8Array(2);
  }

  run(end: number): void {
    const b = this.b;
    let i = this.i;
    while (i < end) {
      if (this.value.depth > 0) {
        i = this.skipNested(i, end);
        continue;
      }
      const c = b[i]!;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        i++;
        continue;
      }
      switch (this.state) {
        case S.ValueOrClose:
          if (c === 0x5d) {
            i = this.close(i, ARRAY);
            break;
          }
        // falls through
        case S.Value:
          if (this.depth === 1) {
            this.valueStart = i;
            // A member's value: only its end and its depth matter (the upstream checks the rest).
            if (c === 0x7b || c === 0x5b) {
              this.value.depth = 1;
              i = this.skipNested(i + 1, end);
              break;
            }
          }
          if (c === 0x7b) i = this.open(i, OBJECT);
          else if (this.depth === 0) throw invalid('request body must be a JSON object');
          else if (c === 0x5b) i = this.open(i, ARRAY);
          else if (c === 0x22) i = this.valueDone(this.skipString(i));
          else i = this.valueDone(this.skipScalar(i));
          break;
        case S.KeyOrClose:
          if (c === 0x7d) {
            i = this.close(i, OBJECT);
            break;
          }
        // falls through
        case S.Key: {
          if (c !== 0x22) throw unexpected(c, i);
          const after = this.skipString(i);
          if (this.depth === 1) this.beginMember(i, after);
          this.state = S.Colon;
          i = after;
          break;
        }
        case S.Colon:
          if (c !== 0x3a) throw unexpected(c, i);
          this.state = S.Value;
          i++;
          break;
        case S.CommaOrClose:
          if (c === 0x2c) {
            this.state = this.stack[this.depth] === OBJECT ? S.Key : S.Value;
            i++;
          } else if (c === 0x7d || c === 0x5d) {
            i = this.close(i, c === 0x7d ? OBJECT : ARRAY);
          } else {
            throw unexpected(c, i);
          }
          break;
        case S.Done:
          throw invalid(`unexpected data after the JSON object at byte ${i}`);
      }
    }
    this.i = i;
  }

  /**
   * Inside a member's object or array value: counts brackets and skips strings, up to `end` or
   * the value's close, whichever comes first. Most bytes are string content, skipped natively.
   */
  private skipNested(from: number, end: number): number {
    const b = this.b;
    const max = this.options.maxDepth - 1;
    const value = this.value;
    const skipper = this.options.skipper ?? 'auto';
    if (skipper === 'wasm' || (skipper === 'auto' && (end - from >= WASM_MIN_BYTES || value.str !== 0))) {
      const i = skipInValue(b, from, end, value, max);
      if (i === -1) throw tooDeep(this.options.maxDepth);
      return value.depth === 0 ? this.valueDone(i) : i;
    }
    let depth = value.depth;
    let i = from;
    while (i < end) {
      const k = CLASS[b[i++]!]!;
      if (k === 0) continue;
      if (k === QUOTE) {
        i = this.skipString(i - 1);
      } else if (k === OPEN) {
        if (++depth > max) throw tooDeep(this.options.maxDepth);
      } else {
        if (--depth === 0) {
          value.depth = 0;
          return this.valueDone(i);
        }
      }
    }
    value.depth = depth;
    return i;
  }

  finish(): Map<string, JsonMember> {
    if (this.value.str !== 0) throw invalid('a string in the JSON body is not terminated');
    if (this.state !== S.Done) throw invalid('the JSON body ends before the object does');
    return this.found;
  }

  private open(i: number, kind: number): number {
    if (this.depth === this.options.maxDepth) throw tooDeep(this.options.maxDepth);
    this.stack[++this.depth] = kind;
    this.state = kind === OBJECT ? S.KeyOrClose : S.ValueOrClose;
    return i + 1;
  }

  private close(i: number, kind: number): number {
    if (this.stack[this.depth] !== kind) throw unexpected(this.b[i]!, i);
    this.depth--;
    return this.valueDone(i + 1);
  }

  /** A value ended just before `end`. */
  private valueDone(end: number): number {
    if (this.depth === 0) {
      this.state = S.Done;
    } else {
      this.state = S.CommaOrClose;
      if (this.depth === 1) this.endMember(end);
    }
    return end;
  }

  private beginMember(start: number, after: number): void {
    this.key = this.wanted(start + 1, after - 1);
    this.keyStart = start;
    if (this.last) {
      this.last.nextStart = start;
      this.last = undefined;
    }
  }

  /**
   * The wanted key whose name is the bytes from `from` to `to`, or undefined: compared byte by
   * byte with the names of the same length, so no string is made for the keys nobody asked for.
   */
  private wanted(from: number, to: number): string | undefined {
    const b = this.b;
    if (!this.plain) {
      const key = JSON.parse(`"${b.toString('utf8', from, to)}"`) as string;
      return this.options.keys.has(key) ? key : undefined;
    }
    const names = keysByLength(this.options.keys).get(to - from);
    if (names === undefined) return undefined;
    next: for (const [name, bytes] of names) {
      for (let i = 0; i < bytes.length; i++) if (b[from + i] !== bytes[i]) continue next;
      return name;
    }
    return undefined;
  }

  private endMember(end: number): void {
    const key = this.key;
    if (key !== undefined) {
      if (this.found.has(key)) throw invalid(`the request body has the key "${key}" more than once`);
      this.last = { keyStart: this.keyStart, valueStart: this.valueStart, valueEnd: end, prevEnd: this.prevEnd, nextStart: -1 };
      this.found.set(key, this.last);
    }
    this.prevEnd = end;
  }

  /** `i` is at an opening quote; returns the offset past the closing one. */
  private skipString(i: number): number {
    const b = this.b;
    // Short strings (keys, enum values) end sooner than a native search pays off.
    const stop = Math.min(i + 24, b.length);
    for (let j = i + 1; j < stop; j++) {
      const c = b[j]!;
      if (c === 0x22) {
        this.plain = true;
        return j + 1;
      }
      if (c === 0x5c) break;
    }
    this.plain = false;
    let from = i + 1;
    for (;;) {
      const q = b.indexOf(0x22, from);
      if (q === -1) throw invalid('a string in the JSON body is not terminated');
      let slashes = 0;
      while (b[q - 1 - slashes] === 0x5c) slashes++;
      if ((slashes & 1) === 0) return q + 1;
      from = q + 1;
    }
  }

  /** A number, true, false or null: the run of characters they are made of. */
  private skipScalar(i: number): number {
    const b = this.b;
    let j = i;
    while (j < b.length && isScalarByte(b[j]!)) j++;
    if (j === i) throw unexpected(b[i]!, i);
    return j;
  }
}

/** The wanted keys as UTF-8 bytes, grouped by byte length (computed once per set). */
const compiled = new WeakMap<ReadonlySet<string>, Map<number, [string, Buffer][]>>();
function keysByLength(keys: ReadonlySet<string>): Map<number, [string, Buffer][]> {
  let byLength = compiled.get(keys);
  if (byLength === undefined) {
    byLength = new Map();
    for (const name of keys) {
      const bytes = Buffer.from(name, 'utf8');
      const same = byLength.get(bytes.length);
      if (same) same.push([name, bytes]);
      else byLength.set(bytes.length, [[name, bytes]]);
    }
    compiled.set(keys, byLength);
  }
  return byLength;
}

const QUOTE = 1;
const OPEN = 2;
const CLOSE = 3;
/** What a byte means inside a member value: most bytes mean nothing (0). */
const CLASS = new Uint8Array(256);
CLASS[0x22] = QUOTE;
CLASS[0x7b] = CLASS[0x5b] = OPEN;
CLASS[0x7d] = CLASS[0x5d] = CLOSE;

/** 0-9 a-z A-Z + - . */
function isScalarByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2b || c === 0x2d || c === 0x2e;
}

function unexpected(c: number, i: number): GatewayError {
  return invalid(`request body is not valid JSON: unexpected ${JSON.stringify(String.fromCharCode(c))} at byte ${i}`);
}

function tooDeep(maxDepth: number): GatewayError {
  return invalid(`request body is nested deeper than ${maxDepth} levels`);
}

function invalid(message: string): GatewayError {
  return new GatewayError('TG_ERR_INVALID_JSON', message);
}
