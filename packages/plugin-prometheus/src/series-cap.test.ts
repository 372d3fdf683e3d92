import { describe, expect, it } from 'vitest';
import { SeriesCap } from './series-cap.js';

const touch = (cap: SeriesCap<number>, user: string) => cap.touch(user, '', () => ({ user }), 0);

describe('SeriesCap', () => {
  it('evicts the least recently touched set past the cap, and a touch makes a set recent again', () => {
    const evicted: string[] = [];
    const cap = new SeriesCap<number>(3, (s) => evicted.push(`${s.labels.user}=${s.value}`));
    for (const user of ['a', 'b', 'c']) touch(cap, user).value++;
    touch(cap, 'a').value++;
    touch(cap, 'd');
    touch(cap, 'e');
    expect(evicted).toEqual(['b=1', 'c=1']);
    expect([cap.size, cap.evicted]).toEqual([3, 2]);
    touch(cap, 'e');
    touch(cap, 'f');
    expect(evicted).toEqual(['b=1', 'c=1', 'a=2']);
    expect([...cap.values()].map((s) => s.labels.user)).toEqual(['d', 'e', 'f']);
  });

  it('a set that comes back after eviction starts from its initial value', () => {
    const cap = new SeriesCap<number>(1);
    touch(cap, 'a').value += 5;
    touch(cap, 'b');
    expect(touch(cap, 'a').value).toBe(0);
  });

  it('makes labels only for a new series', () => {
    const cap = new SeriesCap<number>(10);
    let made = 0;
    const labels = () => (made++, { user: 'a' });
    cap.touch('a', '', labels, 0);
    cap.touch('a', '', labels, 0);
    expect(made).toBe(1);
  });

  it('tells series apart by group and key, and evicts one series of a group, not the group', () => {
    const evicted: string[] = [];
    const cap = new SeriesCap<number>(3, (s) => evicted.push(s.labels.id!));
    const at = (group: string, key: string) => cap.touch(group, key, () => ({ id: `${group}/${key}` }), 0);
    at('u1', 'a').value++;
    at('u1', 'b').value += 2;
    at('u2', 'a').value += 3;
    expect([at('u1', 'a').value, at('u1', 'b').value, at('u2', 'a').value]).toEqual([1, 2, 3]);
    at('u3', 'a');
    expect(evicted).toEqual(['u1/a']);
    expect(at('u1', 'b').value).toBe(2);
    expect([...cap.values()].map((s) => s.labels.id)).toEqual(['u2/a', 'u3/a', 'u1/b']);
    expect(cap.size).toBe(3);
  });
});
