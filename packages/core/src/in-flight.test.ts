import { describe, expect, it } from 'vitest';
import type { Context } from './context.js';
import { InFlight } from './in-flight.js';

const ctx = (name: string) => ({ name, inFlightSlot: -1 }) as unknown as Context & { name: string };

describe('InFlight', () => {
  it('adds, removes from any position, and lists what is left', () => {
    const f = new InFlight();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(ctx);
    for (const x of [a, b, c, d]) f.add(x!);
    f.delete(b!);
    expect(f.size).toBe(3);
    expect(f.list().map((x) => (x as typeof a).name).sort()).toEqual(['a', 'c', 'd']);
    f.delete(b!); // twice: nothing happens
    f.delete(d!);
    f.delete(a!);
    expect(f.list()).toEqual([c]);
    f.delete(c!);
    expect(f.size).toBe(0);
    f.add(a!);
    expect(f.list()).toEqual([a]);
  });

  it('lists a copy, so aborting (which removes) while iterating visits everyone', () => {
    const f = new InFlight();
    const all = ['a', 'b', 'c'].map(ctx);
    for (const x of all) f.add(x);
    const seen: unknown[] = [];
    for (const x of f.list()) {
      seen.push(x);
      f.delete(x);
    }
    expect(seen).toHaveLength(3);
    expect(f.size).toBe(0);
  });
});
