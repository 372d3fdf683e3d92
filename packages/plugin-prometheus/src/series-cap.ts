import type { Labels } from './labels.js';

/** One label set of a metric and what the metric holds for it. */
export interface Series<V> {
  readonly labels: Labels;
  value: V;
}

interface Node<V> extends Series<V> {
  key: string;
  older: Node<V> | undefined;
  newer: Node<V> | undefined;
}

/**
 * The label sets of one metric, at most `max` of them: past that, the least recently touched
 * set is evicted (and `onEvict` called), so a flood of distinct label values — end-user ids —
 * costs bounded memory. A counter that is evicted and comes back starts again from zero,
 * which Prometheus reads as a counter reset.
 *
 * A map plus a doubly linked list in recency order: touch and evict are O(1). (A Map alone,
 * re-inserting on touch and evicting its first entry, makes each eviction step over the
 * deleted slots V8 has not compacted yet; a long-lived Map iterator avoids that but pins
 * every obsolete table of a map that never evicts.)
 */
export class SeriesCap<V> {
  private readonly nodes = new Map<string, Node<V>>();
  private oldest: Node<V> | undefined;
  private newest: Node<V> | undefined;
  /** Label sets evicted since start. */
  evicted = 0;

  constructor(
    private readonly max: number,
    private readonly onEvict: (evicted: Series<V>) => void = () => undefined,
  ) {}

  /**
   * The series under `key` (one key per label set: see `seriesKey`), marked as just used. A
   * new series gets `labels()` and starts at `initial`; an existing one allocates nothing.
   */
  touch(key: string, labels: () => Labels, initial: V): Series<V> {
    const node = this.nodes.get(key);
    if (node) {
      if (node !== this.newest) {
        this.unlink(node);
        this.append(node);
      }
      return node;
    }
    const added: Node<V> = { key, labels: labels(), value: initial, older: undefined, newer: undefined };
    this.nodes.set(key, added);
    this.append(added);
    if (this.nodes.size > this.max) {
      const evict = this.oldest!;
      this.unlink(evict);
      this.nodes.delete(evict.key);
      this.evicted++;
      this.onEvict(evict);
    }
    return added;
  }

  get size(): number {
    return this.nodes.size;
  }

  values(): IterableIterator<Series<V>> {
    return this.nodes.values();
  }

  /** Forgets every series (not counted as evictions). */
  clear(): void {
    this.nodes.clear();
    this.oldest = this.newest = undefined;
  }

  private append(node: Node<V>): void {
    node.older = this.newest;
    node.newer = undefined;
    if (this.newest) this.newest.newer = node;
    else this.oldest = node;
    this.newest = node;
  }

  private unlink(node: Node<V>): void {
    if (node.older) node.older.newer = node.newer;
    else this.oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.newest = node.older;
  }
}

/**
 * A key for label values, length-prefixed so that no choice of values can make two label sets
 * share a key.
 *
 * @example
 * seriesKey(['a:', 'b']) !== seriesKey(['a', ':b']);
 */
export function seriesKey(values: readonly string[]): string {
  let key = '';
  for (const v of values) key += `${v.length}:${v}`;
  return key;
}
