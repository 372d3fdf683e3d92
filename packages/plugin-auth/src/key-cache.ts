import type { KeyStore, VirtualKey } from './key-store.js';

export interface KeyCacheOptions {
  ttlMs: number;
  /** Most entries. */
  max: number;
  /** Longest a lookup may take. */
  timeoutMs: number;
  /** How long after its load a known key may be answered when the store fails (default 0: never). */
  staleIfErrorMs?: number;
  /** Told when a failed lookup was answered from an expired entry. */
  onStale?: (err: unknown) => void;
}

interface Entry {
  key: VirtualKey | null;
  /** When the entry counts from (its load, or its last stale extension). */
  at: number;
  /** When the store last answered for it. */
  loadedAt: number;
}

/**
 * Key lookups from memory. A hit answers synchronously (no promise on the hot path); a miss
 * asks the store once even under concurrent requests. Unknown keys are cached too, so a
 * flood of bad keys cannot hammer the database. Entries expire after `ttlMs`, which bounds how
 * long another replica's change takes to show here; this instance's own changes apply at once
 * (`set` / `invalidate`). The least recently used entries go first beyond `max`. A lookup the
 * store does not answer within `timeoutMs` fails (its late answer is dropped), so a stalled
 * database costs requests a bounded wait, not a hang.
 *
 * When a lookup fails and the expired entry is a key that was loaded less than
 * `staleIfErrorMs` ago, that key is answered instead (and counts as fresh for another `ttlMs`,
 * so the next requests do not wait on the failing store again): a database outage does not
 * lock out every caller whose entry happened to expire. Unknown keys are not answered stale (a
 * key made elsewhere during the outage would read as invalid); they fail with the store.
 */
export class KeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<VirtualKey | undefined>>();

  private readonly o: Required<KeyCacheOptions>;

  constructor(
    private readonly store: KeyStore,
    options: KeyCacheOptions,
  ) {
    this.o = { staleIfErrorMs: 0, onStale: () => {}, ...options };
  }

  /** The cached answer (null: known not to exist), or undefined when the store must be asked. */
  peek(token: string, now: number): VirtualKey | null | undefined {
    const e = this.entries.get(token);
    if (!e || now - e.at >= this.o.ttlMs) return undefined;
    this.entries.delete(token);
    this.entries.set(token, e);
    return e.key;
  }

  load(token: string): Promise<VirtualKey | undefined> {
    let p = this.pending.get(token);
    if (!p) {
      p = withTimeout(this.store.get(token), this.o.timeoutMs).then(
        (key) => {
          this.pending.delete(token);
          this.put(token, key ?? null);
          return key;
        },
        (err: unknown) => {
          this.pending.delete(token);
          const stale = this.entries.get(token);
          const now = Date.now();
          if (!stale?.key || now - stale.loadedAt >= this.o.staleIfErrorMs) throw err;
          stale.at = now;
          this.o.onStale(err);
          return stale.key;
        },
      );
      this.pending.set(token, p);
    }
    return p;
  }

  set(key: VirtualKey): void {
    this.put(key.token, key);
  }

  invalidate(token: string): void {
    this.entries.delete(token);
  }

  /** Drops every entry: each key is read from the store again on its next request. */
  clear(): void {
    this.entries.clear();
  }

  private put(token: string, key: VirtualKey | null): void {
    const now = Date.now();
    this.entries.delete(token);
    this.entries.set(token, { key, at: now, loadedAt: now });
    if (this.entries.size > this.o.max) this.entries.delete(this.entries.keys().next().value!);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the key store did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

