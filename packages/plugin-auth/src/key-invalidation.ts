import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '@tollgate/core';

export interface KeyInvalidationOptions {
  /** redis://… */
  url: string;
  /** The pub/sub channel every replica listens on. */
  channel: string;
  /** Drops a key (by its token) from this replica's cache. */
  invalidate(token: string): void;
  log: Logger;
}

/**
 * Tells the other replicas at once when an admin call changed or deleted keys, over Redis
 * pub/sub, so they drop their cached copies instead of serving them until the cache TTL runs
 * out. Fire and forget: a replica that is not connected when a message goes out misses it and
 * falls back to the TTL.
 */
export class KeyInvalidation {
  private readonly id = randomUUID();
  private readonly pub: Redis;
  private readonly sub: Redis;
  private failing = false;

  constructor(private readonly o: KeyInvalidationOptions) {
    const options = { maxRetriesPerRequest: 1, connectTimeout: 2000 };
    this.pub = new Redis(o.url, { ...options, lazyConnect: true });
    this.sub = new Redis(o.url, options);
    for (const conn of [this.pub, this.sub]) conn.on('error', () => undefined); // reported where they matter
    this.sub.subscribe(o.channel).catch((err: unknown) => this.failed(err));
    this.sub.on('message', (_channel: string, text: string) => this.receive(text));
  }

  /** Tells the other replicas that these keys changed. */
  announce(tokens: readonly string[]): void {
    this.pub.publish(this.o.channel, JSON.stringify({ from: this.id, tokens })).then(
      () => void (this.failing = false),
      (err: unknown) => this.failed(err),
    );
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
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
