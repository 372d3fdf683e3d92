const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const INITIAL_BYTES = 64 * 1024;

/**
 * JSON texts waiting in one growing byte buffer, off the JavaScript heap: a queued ledger row
 * costs the garbage collector nothing however long it waits. (Queued as objects, rows waited
 * ~60 ms for a 500-row batch, outlived two scavenges and were promoted: 250 KB per scavenge,
 * an old generation that grew by ~50 MB between full collections under load.)
 *
 * @example
 * const q = new EncodedQueue();
 * q.push('[1,"a"]'); q.push(''); q.push('[2,"b"]');
 * q.take(3)!.toString(); // '[[1,"a"],[2,"b"]]'
 */
export class EncodedQueue {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES);
  private used = 0;
  /** Where each queued text ends (after its comma); an empty text is an entry of no bytes. */
  private ends: number[] = [];

  get length(): number {
    return this.ends.length;
  }

  /** Queues one JSON text ('' for nothing: it still counts as an entry). */
  push(json: string): void {
    if (json !== '') {
      // UTF-8 takes at most 3 bytes per UTF-16 unit.
      this.reserve(json.length * 3 + 1);
      this.used += this.buf.write(json, this.used);
      this.buf[this.used++] = COMMA;
    }
    this.ends.push(this.used);
  }

  /**
   * Removes the first `n` entries and returns their texts as one JSON array, or undefined when
   * they were all empty.
   */
  take(n: number): Buffer | undefined {
    if (n <= 0) return undefined;
    const end = this.ends[n - 1]!;
    let out: Buffer | undefined;
    if (end > 0) {
      out = Buffer.allocUnsafe(end + 1);
      out[0] = OPEN;
      this.buf.copy(out, 1, 0, end - 1);
      out[end] = CLOSE;
    }
    this.buf.copy(this.buf, 0, end, this.used);
    this.used -= end;
    this.ends.splice(0, n);
    for (let i = 0; i < this.ends.length; i++) this.ends[i]! -= end;
    // A burst (a slow database) may have grown the buffer: give it back once it is drained.
    if (this.used === 0 && this.buf.length > 16 * INITIAL_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_BYTES);
    return out;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + bytes));
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }
}
