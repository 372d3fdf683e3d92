import { describe, expect, it } from 'vitest';
import { EncodedQueue } from './encoded-queue.js';

describe('EncodedQueue', () => {
  it('hands out the first n texts as one JSON array, empty texts counted but not written', () => {
    const q = new EncodedQueue();
    q.push('[1,"a"]');
    q.push('');
    q.push('[2,"caf\u00e9 \u2713"]');
    q.push('[3]');
    expect(q.length).toBe(4);
    expect(JSON.parse(q.take(3)!.toString())).toEqual([[1, 'a'], [2, 'caf\u00e9 \u2713']]);
    expect(q.length).toBe(1);
    q.push('');
    expect(q.take(1)!.toString()).toBe('[[3]]');
    expect(q.take(1)).toBeUndefined();
    expect(q.length).toBe(0);
  });

  it('grows past its first buffer and keeps every text intact', () => {
    const q = new EncodedQueue();
    const texts = Array.from({ length: 3000 }, (_, i) => JSON.stringify([i, 'x'.repeat(i % 97), '\u00fc'.repeat(i % 13)]));
    for (const t of texts) q.push(t);
    expect(JSON.parse(q.take(1000)!.toString())).toEqual(texts.slice(0, 1000).map((t) => JSON.parse(t)));
    q.push(texts[0]!);
    expect(JSON.parse(q.take(2001)!.toString())).toEqual([...texts.slice(1000), texts[0]].map((t) => JSON.parse(t)));
    expect(q.length).toBe(0);
  });
});
