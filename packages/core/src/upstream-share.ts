import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SharedCooldown } from './upstream-health.js';
import type { UpstreamPool } from './upstream-pool.js';

/** What one replica tells the others. */
interface Message extends SharedCooldown {
  provider: string;
  from: string;
}

/**
 * Shares upstream cooldowns and auth failures between replicas through Redis: each one is
 * published on `<prefix>upstreams` and kept under `<prefix>upstream:<provider>:<name>:<reason>`
 * until it ends, so a replica that starts (or reconnects) later reads the ones in force.
 * Circuit breakers stay per replica: connection failures are each replica's own view. While
 * Redis is unreachable each replica goes on with what it sees itself (warned once).
 */
export class CooldownShare {
  private readonly id = randomUUID();
  private readonly channel: string;
  private failing = false;

  private constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly prefix: string,
    private readonly pools: ReadonlyMap<string, UpstreamPool>,
    private readonly log: Logger,
  ) {
    this.channel = `${prefix}upstreams`;
  }

  /**
   * Connects in the background (boot never waits for Redis) and subscribes.
   *
   * @example
   * const share = await CooldownShare.start({ url: 'redis://127.0.0.1:6379', prefix: 'tollgate:', pools, log });
   */
  static async start(o: { url: string; prefix: string; pools: ReadonlyMap<string, UpstreamPool>; log: Logger }): Promise<CooldownShare> {
    const { Redis } = await import('ioredis');
    const pub = new Redis(o.url, { maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: true });
    const sub = pub.duplicate();
    // Reported by the calls that meet them, once per outage.
    pub.on('error', () => undefined);
    sub.on('error', () => undefined);
    const share = new CooldownShare(pub, sub, o.prefix, o.pools, o.log);
    sub.on('message', (_channel: string, text: string) => share.receive(text));
    // After the subscription, so that no cooldown falls between the two: one set before it is
    // read back, one set after it arrives as a message (the key and the message go together).
    sub
      .connect()
      .then(() => sub.subscribe(share.channel))
      .then(
        () => {
          sub.on('ready', () => void share.catchUp());
          return share.catchUp();
        },
        (err: unknown) => share.warn(err),
      );
    return share;
  }

  /** Tells the other replicas (and later ones) about a cooldown this one set. */
  publish(provider: string, c: SharedCooldown): void {
    const ms = c.until - Date.now();
    if (ms <= 0) return;
    const message: Message = { ...c, provider, from: this.id };
    this.pub
      .multi()
      .set(this.key(provider, c.upstream, c.reason), String(c.until), 'PX', ms)
      .publish(this.channel, JSON.stringify(message))
      .exec()
      .then(() => (this.failing = false), (err: unknown) => this.warn(err));
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }

  private receive(text: string): void {
    let m: Message;
    try {
      m = JSON.parse(text) as Message;
    } catch (err) {
      this.log.warn({ err }, 'unreadable upstream cooldown message from Redis');
      return;
    }
    if (m.from === this.id) return;
    this.pools.get(m.provider)?.applyShared(m, Date.now());
  }

  /** The cooldowns in force, for a replica that just (re)connected. */
  private async catchUp(): Promise<void> {
    const wanted: [string, SharedCooldown][] = [];
    for (const [provider, pool] of this.pools) {
      for (const u of pool.upstreams) {
        for (const reason of ['cooldown', 'unhealthy'] as const) wanted.push([this.key(provider, u.name, reason), { upstream: u.name, until: 0, reason }]);
      }
    }
    if (wanted.length === 0) return;
    try {
      const values = await this.pub.mget(wanted.map(([key]) => key));
      const now = Date.now();
      values.forEach((v, i) => {
        if (v === null) return;
        const [key, c] = wanted[i]!;
        const provider = key.slice(`${this.prefix}upstream:`.length).split(':')[0]!;
        this.pools.get(provider)?.applyShared({ ...c, until: Number(v) }, now);
      });
    } catch (err) {
      this.warn(err);
    }
  }

  private key(provider: string, upstream: string, reason: string): string {
    return `${this.prefix}upstream:${provider}:${upstream}:${reason}`;
  }

  private warn(err: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.log.warn({ err: (err as Error).message }, 'Redis unreachable: upstream cooldowns are not shared with other replicas until it is back');
  }
}
