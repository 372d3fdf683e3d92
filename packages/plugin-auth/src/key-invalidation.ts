import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '@tollgate/core';

export interface KeyInvalidationOptions {
  /** The pub/sub channel every replica listens on. */
  channel: string;
  /** Drops a key (by its token) from this replica's cache. */
  invalidate(token: string): void;
  /** Drops every key from this replica's cache. */
  invalidateAll(): void;
  log: Logger;
}

/**
 * Tells the other replicas at once when an admin call changed or deleted keys, over Redis
 * pub/sub, so they drop their cached copies instead of serving them until the cache TTL runs
 * out. Fire and forget: a message sent while a replica is not subscribed is lost to it, so a
 * replica that loses its subscription says so, and once subscribed again drops its whole key
 * cache (every key is read from the database again on its next request).
 */
export class KeyInvalidation {
  private readonly id = randomUUID();
  /** A subscribed connection takes no other commands: its own, a copy of `pub`'s settings. */
  private readonly sub: Redis;
  private failing = false;
  /** Subscribed now; `lost`: was subscribed, and the connection went since. */
  private subscribed = false;
  private lost = false;

  constructor(
    private readonly pub: Redis,
    private readonly o: KeyInvalidationOptions,
  ) {
    // Subscribed by hand on each connect (not ioredis's autoResubscribe), to know when it holds again.
    this.sub = pub.duplicate({ lazyConnect: false, enableOfflineQueue: true, autoResubscribe: false });
    this.sub.on('error', () => undefined); // reported by the subscribe call that meets it, and by 'close'
    this.sub.on('ready', () => this.subscribe());
    this.sub.on('close', () => this.closed());
    this.sub.on('message', (_channel: string, text: string) => this.receive(text));
  }

  /** Tells the other replicas that these keys changed. */
  announce(tokens: readonly string[]): void {
    this.pub.publish(this.o.channel, JSON.stringify({ from: this.id, tokens })).then(
      () => void (this.failing = false),
      (err: unknown) => this.failed(err),
    );
  }

  close(): void {
    this.sub.removeAllListeners('close');
    this.sub.disconnect();
  }

  private subscribe(): void {
    this.sub.subscribe(this.o.channel).then(
      () => {
        this.subscribed = true;
        if (!this.lost) return;
        this.lost = false;
        // Changes made while unsubscribed were never heard here: forget every cached key.
        this.o.invalidateAll();
        this.o.log.info('subscribed to key changes through Redis again; dropped the key cache, which may have missed some');
      },
      (err: unknown) => this.failed(err),
    );
  }

  private closed(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    this.lost = true;
    this.o.log.warn("lost the Redis subscription to key changes: other replicas' key changes show here only when cache entries expire, until it is back");
  }

  private receive(text: string): void {
    let msg: { from?: unknown; tokens?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.from === this.id || !Array.isArray(msg.tokens)) return;
    for (const token of msg.tokens) if (typeof token === 'string') this.o.invalidate(token);
  }

  private failed(err: unknown): void {
    if (!this.failing) this.o.log.warn({ err: { message: (err as Error).message } }, 'cannot tell the other replicas about key changes through Redis; they see them when their cache entries expire');
    this.failing = true;
  }
}
