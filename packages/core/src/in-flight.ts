import type { Context } from './context.js';

/**
 * The requests in flight, for shutdown: an array with swap-remove, each context holding its
 * slot. Not a Set: a Set with an add and a delete per request rebuilds its hash table every
 * few requests, and each replaced table keeps pointing at the contexts it held and at its
 * successor. Once one such table was promoted, it kept the next one, and every request it
 * held, alive through the scavenges that followed: 1.4 MB promoted per scavenge instead of
 * 12 KB, in about a third of the processes (measured with --trace-gc-nvp; bench/README.md).
 */
export class InFlight {
  private readonly items: Context[] = [];

  get size(): number {
    return this.items.length;
  }

  add(ctx: Context): void {
    ctx.inFlightSlot = this.items.length;
    this.items.push(ctx);
  }

  delete(ctx: Context): void {
    const slot = ctx.inFlightSlot;
    if (slot < 0 || this.items[slot] !== ctx) return;
    const last = this.items.pop()!;
    if (last !== ctx) {
      this.items[slot] = last;
      last.inFlightSlot = slot;
    }
    ctx.inFlightSlot = -1;
  }

  /** A copy: aborting a request may remove it while the caller iterates. */
  list(): Context[] {
    return [...this.items];
  }
}
