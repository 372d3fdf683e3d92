import { picoToNumber, type KeyLimits, type KeyLimitsSnapshot } from '@tollgate/core';
import { Gauge, type Registry } from 'prom-client';
import { keyHashLabel } from './labels.js';
import { SeriesCap } from './series-cap.js';

type Reading = (k: KeyLimitsSnapshot) => number | bigint | undefined;

const GAUGES: { name: string; help: string; read: Reading }[] = [
  { name: 'tollgate_key_remaining_budget_usd', help: "What is left of the key's max_budget in its current budget window (negative once overspent).", read: (k) => k.remainingBudget },
  { name: 'tollgate_key_max_budget_usd', help: "The key's max_budget per budget window.", read: (k) => k.maxBudget },
  { name: 'tollgate_key_rpm_limit', help: "The key's requests-per-minute limit.", read: (k) => k.rpmLimit },
  { name: 'tollgate_key_tpm_limit', help: "The key's tokens-per-minute limit.", read: (k) => k.tpmLimit },
  { name: 'tollgate_key_max_parallel_requests', help: "The key's limit on requests in flight.", read: (k) => k.maxParallelRequests },
];

/**
 * Budget and limit gauges for the virtual keys seen in traffic (at most `maxSeries` keys, the
 * least recently used dropped). Values are read from the auth plugin (KEY_LIMITS) when
 * scraped, so the remaining budget is as of the scrape; a key the auth plugin no longer holds
 * in memory keeps its last known values. A key without a given limit has no series for it.
 */
export class KeyGauges {
  private readonly keys = new Map<string, KeyLimitsSnapshot>();
  private readonly cap: SeriesCap<undefined>;
  private fresh = false;

  constructor(
    registry: Registry,
    private readonly limits: KeyLimits,
    maxSeries: number,
  ) {
    this.cap = new SeriesCap<undefined>(maxSeries, (evicted) => this.keys.delete(evicted.labels.key));
    const fill = (gauge: Gauge<'key_hash' | 'key_alias'>, read: Reading) => this.fill(gauge, read);
    for (const g of GAUGES) {
      new Gauge({
        name: g.name,
        help: g.help,
        labelNames: ['key_hash', 'key_alias'],
        registers: [registry],
        collect() {
          fill(this, g.read);
        },
      });
    }
  }

  /**
   * A request by this key completed. A new key is read at once (the auth cache holds it now);
   * known keys are re-read at each scrape.
   */
  seen(keyHash: string): void {
    this.cap.touch(keyHash, '', () => ({ key: keyHash }), undefined);
    if (!this.keys.has(keyHash)) this.keys.set(keyHash, this.limits.get(keyHash) ?? { keyHash });
  }

  private fill(gauge: Gauge<'key_hash' | 'key_alias'>, read: Reading): void {
    this.refresh();
    gauge.reset();
    for (const k of this.keys.values()) {
      const v = read(k);
      if (v !== undefined) gauge.set({ key_hash: keyHashLabel(k.keyHash), key_alias: k.keyAlias ?? '' }, typeof v === 'bigint' ? picoToNumber(v) : v);
    }
  }

  /** Re-reads every key once per scrape (the gauges' collects run back to back). */
  private refresh(): void {
    if (this.fresh) return;
    this.fresh = true;
    queueMicrotask(() => {
      this.fresh = false;
    });
    for (const [hash, old] of this.keys) this.keys.set(hash, this.limits.get(hash) ?? old);
  }
}
