import type { FailoverConfig } from './upstream-config.js';

/** Why an upstream is out of rotation, or `ok`. */
export type HealthState = 'ok' | 'cooldown' | 'open' | 'half-open' | 'unhealthy' | 'capped';

/** What /health/upstreams and the metrics show of one upstream. */
export interface UpstreamSnapshot {
  name: string;
  state: HealthState;
  /** Epoch ms until which the upstream is out (cooldown, open circuit, auth failure). */
  until?: number;
  inFlight: number;
  /** The least share of a rate limit left, from the last anthropic-ratelimit-* headers (0–1). */
  headroom?: number;
  requests: number;
  rateLimited: number;
  overloaded: number;
  failures: number;
  retries: number;
}

/** One cooldown another replica announced (or this one, to share). */
export interface SharedCooldown {
  upstream: string;
  until: number;
  reason: 'cooldown' | 'unhealthy';
}

const MINUTE = 60_000;
const LIMIT_KINDS = ['requests', 'tokens', 'input-tokens', 'output-tokens'] as const;

/**
 * The health of one upstream: a cooldown after 429/529 (from retry-after, else a doubling
 * backoff), a circuit breaker that opens after repeated failures and lets one probe through
 * once it has been open long enough, an auth failure (401/402/403) that keeps the upstream
 * out until a probe, the rate-limit headroom the upstream last reported, and the gateway's
 * own caps (concurrency, requests and tokens a minute). Time comes in as arguments.
 */
export class UpstreamHealth {
  inFlight = 0;
  requests = 0;
  rateLimited = 0;
  overloaded = 0;
  failures = 0;
  retries = 0;
  private coolUntil = 0;
  private cooldowns = 0;
  private failuresInRow = 0;
  private openUntil = 0;
  private circuit: 'closed' | 'open' | 'unhealthy' = 'closed';
  private probing = false;
  private headroom?: number;
  private headroomUntil = 0;
  private minute = 0;
  private minuteRequests = 0;
  private minuteTokens = 0;

  constructor(
    readonly name: string,
    private readonly o: FailoverConfig,
    readonly caps: { maxConcurrency: number | null; rpm: number | null; tpm: number | null },
    /** Called when this replica sets a cooldown other replicas should know about. */
    private readonly share?: (c: SharedCooldown) => void,
  ) {}

  /** What the upstream is now; `half-open` means one probe may go. */
  state(now: number): HealthState {
    if (this.circuit !== 'closed') {
      if (now < this.openUntil) return this.circuit === 'unhealthy' ? 'unhealthy' : 'open';
      return 'half-open';
    }
    if (now < this.coolUntil) return 'cooldown';
    if (this.isCapped(now)) return 'capped';
    return 'ok';
  }

  /** Usable now: 2 with headroom, 1 when tight on its rate limit, 0 not at all. */
  rank(now: number): 0 | 1 | 2 {
    const s = this.state(now);
    if (s === 'half-open') return this.probing || this.isCapped(now) ? 0 : 2;
    if (s !== 'ok') return 0;
    return this.headroom !== undefined && now < this.headroomUntil && this.headroom < this.o.minHeadroom ? 1 : 2;
  }

  /** When the upstream is back (for choosing the least bad one when none is usable). */
  backAt(): number {
    return Math.max(this.coolUntil, this.circuit === 'closed' ? 0 : this.openUntil);
  }

  /** An attempt starts here. */
  start(now: number): void {
    this.requests++;
    this.inFlight++;
    if (this.circuit !== 'closed' && now >= this.openUntil) this.probing = true;
    if (this.caps.rpm !== null || this.caps.tpm !== null) {
      this.roll(now);
      this.minuteRequests++;
    }
  }

  /** An attempt ended; `tokens` counts toward the tpm cap. */
  end(tokens: number): void {
    this.inFlight--;
    if (this.caps.tpm !== null) this.minuteTokens += tokens;
  }

  /** The upstream answered with this status (an error status may follow with `retryAfterMs`). */
  answered(status: number, now: number, retryAfterMs: number | undefined): void {
    if (status < 400) return this.succeeded();
    if (status === 429 || status === 529) {
      if (status === 429) this.rateLimited++;
      else this.overloaded++;
      this.cool(now, retryAfterMs);
      // A probe that met a rate limit proved the key works.
      if (this.probing) this.succeeded();
      return;
    }
    if (status === 401 || status === 402 || status === 403) return this.trip(now, 'unhealthy', this.o.authFailureMs);
    if (status >= 500) return this.failed(now);
    this.succeeded();
  }

  /** A connection error or timeout. */
  failed(now: number): void {
    this.failures++;
    this.failuresInRow++;
    if (this.probing || this.failuresInRow >= this.o.breakerFailures) this.trip(now, 'open', this.o.breakerOpenMs);
  }

  /** The rate-limit headers of a response: the least share left of any limit. */
  readHeadroom(headers: Record<string, string | string[] | undefined>, now: number): void {
    let least: number | undefined;
    for (const kind of LIMIT_KINDS) {
      const left = Number(headers[`anthropic-ratelimit-${kind}-remaining`]);
      const max = Number(headers[`anthropic-ratelimit-${kind}-limit`]);
      if (max > 0 && left >= 0) least = Math.min(least ?? 1, left / max);
    }
    if (least === undefined) return;
    this.headroom = least;
    // Anthropic refills continuously; a reading is trusted for a few seconds.
    this.headroomUntil = now + 5000;
  }

  /** A cooldown or auth failure another replica saw. */
  applyShared(c: SharedCooldown, now: number): void {
    if (c.until <= now) return;
    if (c.reason === 'cooldown') this.coolUntil = Math.max(this.coolUntil, c.until);
    else if (c.until > this.openUntil || this.circuit === 'closed') {
      this.circuit = 'unhealthy';
      this.openUntil = c.until;
    }
  }

  snapshot(now: number): UpstreamSnapshot {
    const state = this.state(now);
    const until = state === 'cooldown' ? this.coolUntil : state === 'open' || state === 'unhealthy' ? this.openUntil : undefined;
    const headroom = now < this.headroomUntil ? this.headroom : undefined;
    const { name, inFlight, requests, rateLimited, overloaded, failures, retries } = this;
    return { name, state, until, inFlight, headroom, requests, rateLimited, overloaded, failures, retries };
  }

  private succeeded(): void {
    this.failuresInRow = 0;
    this.cooldowns = 0;
    this.probing = false;
    this.circuit = 'closed';
  }

  private cool(now: number, retryAfterMs: number | undefined): void {
    const backoff = this.o.cooldownMs * 2 ** Math.min(this.cooldowns, 16);
    this.cooldowns++;
    this.coolUntil = now + Math.min(retryAfterMs ?? backoff, this.o.maxCooldownMs);
    this.share?.({ upstream: this.name, until: this.coolUntil, reason: 'cooldown' });
  }

  private trip(now: number, circuit: 'open' | 'unhealthy', ms: number): void {
    this.circuit = circuit;
    this.probing = false;
    this.openUntil = now + ms;
    if (circuit === 'unhealthy') this.share?.({ upstream: this.name, until: this.openUntil, reason: 'unhealthy' });
  }

  private isCapped(now: number): boolean {
    const { maxConcurrency, rpm, tpm } = this.caps;
    if (maxConcurrency !== null && this.inFlight >= maxConcurrency) return true;
    if (rpm === null && tpm === null) return false;
    this.roll(now);
    return (rpm !== null && this.minuteRequests >= rpm) || (tpm !== null && this.minuteTokens >= tpm);
  }

  private roll(now: number): void {
    const minute = Math.floor(now / MINUTE);
    if (minute === this.minute) return;
    this.minute = minute;
    this.minuteRequests = 0;
    this.minuteTokens = 0;
  }
}

/**
 * A retry-after in ms from `retry-after-ms` or `retry-after` (seconds or an HTTP date).
 *
 * @example
 * retryAfterMs({ 'retry-after': '3' }, Date.now()); // 3000
 */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>, now: number): number | undefined {
  const ms = Number(headers['retry-after-ms']);
  if (headers['retry-after-ms'] !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const v = headers['retry-after'];
  if (typeof v !== 'string' || v === '') return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return s >= 0 ? s * 1000 : undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
