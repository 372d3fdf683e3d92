import { isIPv6 } from 'node:net';
import { GatewayError, type RouteRequest } from '@tollgate/core';

/** Most client addresses whose failures are remembered; past it the least recently failing is forgotten. */
export const TRACKED_ADDRESSES = 10_000;

/**
 * Failed console sign-ins per client address, over a sliding window: past `max` failures
 * within `windowMs`, sign-in from that address answers 429 until the oldest leaves the window.
 * An attempt counts as failed from the moment it starts, so parallel guesses cannot all pass
 * the check before the first is refused; a successful sign-in cancels its own attempt (and not
 * the others: one valid key must not reset the count for guessing another).
 * Memory: at most `max` timestamps for each of at most `maxAddresses` addresses.
 */
export class SignInLimit {
  // Insertion order is failure recency: `take` re-inserts, so the first entry goes first.
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly o: { max: number; windowMs: number; maxAddresses: number; now?: () => number }) {}

  /** Starts an attempt from `address`, counted as failed unless cancelled; 429 past the limit. */
  take(address: string): { cancel(): void } {
    const now = this.now();
    const recent = (this.failures.get(address) ?? []).filter((t) => t > now - this.o.windowMs);
    this.failures.delete(address);
    if (recent.length >= this.o.max) {
      this.failures.set(address, recent);
      const seconds = Math.max(1, Math.ceil((recent[0] + this.o.windowMs - now) / 1000));
      throw new GatewayError('TG_ERR_RATE_LIMITED', `too many failed sign-ins from this address: try again in ${seconds} s`, {
        headers: { 'retry-after': String(seconds) },
      });
    }
    recent.push(now);
    this.failures.set(address, recent);
    for (const oldest of this.failures.keys()) {
      if (this.failures.size <= this.o.maxAddresses) break;
      this.failures.delete(oldest);
    }
    return {
      cancel: () => {
        const list = this.failures.get(address);
        const i = list?.indexOf(now) ?? -1;
        if (i >= 0) list!.splice(i, 1);
        if (list?.length === 0) this.failures.delete(address);
      },
    };
  }

  /** Addresses remembered now (for tests of the bound). */
  get size(): number {
    return this.failures.size;
  }

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }
}

/**
 * Who is signing in: the last address in `header` when the gateway is told one (the one the
 * proxy in front of it appended), else the connection's. IPv6 addresses count per /64, the
 * block one host usually holds.
 */
export function clientAddress(req: RouteRequest, header: string | null): string {
  const given = header === null ? undefined : req.headers[header.toLowerCase()];
  const listed = (Array.isArray(given) ? given.join(',') : given)?.split(',').at(-1)?.trim();
  const address = (listed || req.raw.req.socket.remoteAddress || 'unknown').replace(/^::ffff:(?=\d+\.)/, '');
  return isIPv6(address) ? `${expand(address).slice(0, 4).join(':')}::/64` : address;
}

/** The eight 16-bit groups of an IPv6 address, `::` filled in. */
function expand(address: string): string[] {
  const [head, tail] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
}
