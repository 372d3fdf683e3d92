import { nextBoundary, parseDuration, picoToUsd, type Pico, type SpendTotals } from '@tollgate/core';
import { budgetPico, type VirtualKey } from './key-store.js';

/**
 * Spend inside the key's current budget window: all its spend minus what it had spent when
 * the window began. Zero without a cost plugin.
 */
export function windowSpend(key: VirtualKey, spend: SpendTotals | undefined): Pico {
  if (!spend) return 0n;
  const s = spend.keySpend(key.token) - key.budgetSpendOffset;
  return s > 0n ? s : 0n;
}

/**
 * When the budget window has ended, the key as it should be for the window `now` falls in:
 * a new reset time and the spend offset at the roll. Undefined when nothing changes.
 */
export function rollBudgetWindow(key: VirtualKey, spend: SpendTotals | undefined, now: number): VirtualKey | undefined {
  if (key.budgetResetAt === null || key.budgetDuration === null || now < key.budgetResetAt) return undefined;
  const duration = parseDuration(key.budgetDuration);
  if (!duration) return undefined;
  return {
    ...key,
    budgetResetAt: nextBoundary(key.budgetResetAt, duration, now),
    budgetSpendOffset: spend ? spend.keySpend(key.token) : 0n,
    updatedAt: now,
  };
}

/** A message for a key over its budget, or undefined while it is within it. */
export function budgetExceeded(key: VirtualKey, spend: SpendTotals | undefined): string | undefined {
  const budget = budgetPico(key);
  if (budget === undefined) return undefined;
  const spent = windowSpend(key, spend);
  if (spent < budget) return undefined;
  const resets = key.budgetResetAt === null ? 'it does not reset' : `it resets at ${new Date(key.budgetResetAt).toISOString()}`;
  return `budget exceeded for this key: spent $${picoToUsd(spent)} of its $${picoToUsd(budget)} budget (${resets})`;
}
