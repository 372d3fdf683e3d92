import type { InjectionToken } from 'tsyringe';
import type { Pico } from './money.js';

/**
 * Running spend totals, kept in memory by a cost plugin and read on the hot path by policy
 * plugins (budgets). Plugins never import each other: they meet through this token.
 */
export interface SpendTotals {
  /** All spend ever booked to a key (by its hash), in pico-dollars. */
  keySpend(keyHash: string): Pico;
  /**
   * Optional (replicas sharing a database): brings `keySpend(keyHash)` up to every replica's
   * committed spend when this instance last read it more than `maxAgeMs` ago (default: the
   * cost plugin's setting). A promise while it reads; undefined when nothing needs reading, so
   * the hot path stays synchronous. Never rejects: a failed read leaves what is in memory.
   */
  freshen?(keyHash: string, maxAgeMs?: number): Promise<void> | undefined;
  /** Optional: calls `listener` with each spend booked here to a key, as it is booked (to feed a shared counter). */
  onKeySpend?(listener: (keyHash: string, spend: Pico) => void): void;
}

/** Provided by a cost plugin; absent when none is loaded (budgets are then refused at boot). */
export const SPEND_TOTALS: InjectionToken<SpendTotals> = Symbol.for('tollgate.spend-totals');
