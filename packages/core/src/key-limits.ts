import type { InjectionToken } from 'tsyringe';
import type { Pico } from './money.js';

/** One key's budget and rate limits as the auth plugin enforces them right now. */
export interface KeyLimitsSnapshot {
  keyHash: string;
  keyAlias?: string;
  /** The key's budget per window in pico-USD; undefined when it has none. */
  maxBudget?: Pico;
  /** What is left of the budget in the current window (pico-USD); negative once overspent. */
  remainingBudget?: Pico;
  rpmLimit?: number;
  tpmLimit?: number;
  maxParallelRequests?: number;
}

/**
 * Read-only view of virtual keys' limits, provided by an auth plugin for exporters (budget
 * and limit gauges). Answers from memory only: it never reads storage.
 *
 * @example
 * const limits = api.has(KEY_LIMITS) ? api.resolve(KEY_LIMITS).get(record.principal.keyHash) : undefined;
 * if (limits?.remainingBudget !== undefined) gauge.set(picoToNumber(limits.remainingBudget));
 */
export interface KeyLimits {
  /** The key's limits, or undefined when this instance does not hold the key in memory. */
  get(keyHash: string): KeyLimitsSnapshot | undefined;
}

/** Provided by an auth plugin; absent when none is loaded. */
export const KEY_LIMITS: InjectionToken<KeyLimits> = Symbol.for('tollgate.key-limits');
