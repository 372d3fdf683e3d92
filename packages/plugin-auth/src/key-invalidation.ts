import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '@tollgate/core';

export interface KeyInvalidationOptions {
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
  /** A subscribed connection takes no other commands: its own, a copy of `pub`'s settings. */
  private readonly sub: Redis;
  private failing = false;

  constructor(
    private readonly pub: Redis,
    private readonly o: KeyInvalidationOptions,
  ) {
    this.sub = pub.duplicate({ lazyConnect: false });
    this.sub.on('error', () => undefined); // reported by the subscribe call that meets it
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

  close(): void {
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
