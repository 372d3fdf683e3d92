import { Pool } from 'undici';
import { hash32, randomScore, rendezvousScore } from './affinity.js';
import type { FailoverConfig, UpstreamConfig } from './upstream-config.js';
import { UpstreamHealth, type SharedCooldown, type UpstreamSnapshot } from './upstream-health.js';

/** One upstream of a pool: where it is, its credential, and its health. */
export interface Upstream {
  readonly name: string;
  readonly origin: string;
  /** The upstream base URL's path ('' when none). */
  readonly basePath: string;
  readonly apiKey: string | undefined;
  readonly weight: number;
  readonly models: ReadonlySet<string> | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly hasHeaders: boolean;
  readonly dispatcher: Pool;
  readonly health: UpstreamHealth;
  /** FNV of the name: the upstream's seed in rendezvous hashing. */
  readonly seed: number;
}

const MAX_PINNED = 10_000;

/**
 * The upstreams of one provider. Picks the order a request tries them in (session affinity
 * by rendezvous hashing, the model allow-lists, health), remembers which upstream holds each
 * batch, and takes a new list on reload: upstreams kept by name keep their connections and
 * health, removed ones close once their requests are done.
 */
export class UpstreamPool {
  private list: Upstream[] = [];
  private byName = new Map<string, Upstream>();
  private plainOne: Upstream | undefined;
  /** Batch id → the upstream that created it (batches live in one workspace). */
  private readonly pinned = new Map<string, string>();

  constructor(
    readonly provider: string,
    readonly failover: FailoverConfig,
    private readonly connections: number | null,
    configs: UpstreamConfig[],
    private readonly share?: (c: SharedCooldown) => void,
  ) {
    void this.reload(configs);
  }

  get upstreams(): readonly Upstream[] {
    return this.list;
  }

  /**
   * The only upstream of a pool of one with no model list and no caps: nothing to choose or
   * enforce, so a request is one plain call (the fast path). Undefined otherwise.
   */
  get plain(): Upstream | undefined {
    return this.plainOne;
  }

  get(name: string): Upstream | undefined {
    return this.byName.get(name);
  }

  /**
   * The upstreams a request may use, best first. With a session, rendezvous order (stable
   * while the pool is unchanged); without, weighted random. Those that serve none of
   * `models` are left out; usable ones come before tight and unusable ones, each group
   * keeping its order, so a session returns to its upstream once that one is back.
   */
  order(session: string | undefined, models: readonly string[], now: number): Upstream[] {
    const h = session === undefined ? 0 : hash32(session);
    const scored: { u: Upstream; score: number; rank: number }[] = [];
    for (const u of this.list) {
      if (u.models && !models.every((m) => u.models!.has(m))) continue;
      const score = session === undefined || !this.failover.affinity ? randomScore(u.weight) : rendezvousScore(h, u.seed, u.weight);
      scored.push({ u, score, rank: u.health.rank(now) });
    }
    scored.sort((a, b) => b.rank - a.rank || (a.rank === 0 ? a.u.health.backAt() - b.u.health.backAt() : 0) || b.score - a.score);
    return scored.map((s) => s.u);
  }

  /** The upstream holding a batch, once known. */
  pinnedFor(resource: string): Upstream | undefined {
    const name = this.pinned.get(resource);
    return name === undefined ? undefined : this.byName.get(name);
  }

  pin(resource: string, upstream: string): void {
    this.pinned.delete(resource);
    this.pinned.set(resource, upstream);
    if (this.pinned.size > MAX_PINNED) this.pinned.delete(this.pinned.keys().next().value!);
  }

  /** A cooldown another replica shared. */
  applyShared(c: SharedCooldown, now: number): void {
    this.byName.get(c.upstream)?.health.applyShared(c, now);
  }

  snapshot(now: number): UpstreamSnapshot[] {
    return this.list.map((u) => u.health.snapshot(now));
  }

  /**
   * Takes a new upstream list. An upstream whose name, URL, key, headers and caps are all
   * unchanged is kept as it is; the rest are created anew. Resolves when the dropped ones'
   * connections have closed (after their requests in flight).
   */
  reload(configs: UpstreamConfig[]): Promise<void> {
    const next = configs.map((c) => {
      const old = this.byName.get(c.name);
      return old && sameUpstream(old, c) ? withWeights(old, c) : this.create(c);
    });
    const kept = new Set(next.map((u) => u.dispatcher));
    const dropped = this.list.filter((u) => !kept.has(u.dispatcher));
    this.list = next;
    const one = next.length === 1 ? next[0]! : undefined;
    const caps = one?.health.caps;
    this.plainOne = one && !one.models && caps!.maxConcurrency === null && caps!.rpm === null && caps!.tpm === null ? one : undefined;
    this.byName = new Map(next.map((u) => [u.name, u]));
    return Promise.all(dropped.map((u) => u.dispatcher.close())).then(() => undefined);
  }

  close(): Promise<void> {
    return Promise.all(this.list.map((u) => u.dispatcher.close())).then(() => undefined);
  }

  private create(c: UpstreamConfig): Upstream {
    const url = new URL(c.baseUrl);
    return {
      name: c.name,
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      apiKey: c.apiKey,
      weight: c.weight,
      models: c.models ? new Set(c.models) : undefined,
      headers: c.headers,
      hasHeaders: Object.keys(c.headers).length > 0,
      dispatcher: new Pool(url.origin, { connections: this.connections, pipelining: 1 }),
      health: new UpstreamHealth(c.name, this.failover, c, this.share),
      seed: hash32(c.name),
    };
  }
}

function sameUpstream(u: Upstream, c: UpstreamConfig): boolean {
  const url = new URL(c.baseUrl);
  const caps = u.health.caps;
  return (
    u.origin === url.origin &&
    u.basePath === url.pathname.replace(/\/+$/, '') &&
    u.apiKey === c.apiKey &&
    JSON.stringify(u.headers) === JSON.stringify(c.headers) &&
    caps.maxConcurrency === c.maxConcurrency &&
    caps.rpm === c.rpm &&
    caps.tpm === c.tpm
  );
}

/** The same upstream (connections, health) with the new weight and model list. */
function withWeights(u: Upstream, c: UpstreamConfig): Upstream {
  return { ...u, weight: c.weight, models: c.models ? new Set(c.models) : undefined };
}
