import type { InjectionToken } from 'tsyringe';
import type { Pico } from './money.js';

/**
 * Running spend totals, kept in memory by a cost plugin and read on the hot path by policy
 * plugins (budgets). Plugins never import each other: they meet through this token.
 */
export interface SpendTotals {
  /** All spend ever booked to a key (by its hash), in pico-dollars. */
  keySpend(keyHash: string): Pico;
}

/** Provided by a cost plugin; absent when none is loaded (budgets are then refused at boot). */
export const SPEND_TOTALS: InjectionToken<SpendTotals> = Symbol.for('tollgate.spend-totals');
