import type { Usage } from './context.js';

const COUNTS = ['inputTokens', 'outputTokens', 'cacheReadTokens', 'cacheWriteTokens', 'cacheWrite5mTokens', 'cacheWrite1hTokens', 'webSearchRequests'] as const;

/**
 * The usage if every count in it is a whole number (a non-negative safe integer), else
 * undefined: an upstream or adapter that reports 1.5, -5, 1e20 or "10" tokens reported nothing
 * the gateway can bill, rate-limit or count. Core applies it to what every adapter returns.
 *
 * @example
 * readableUsage(normalizeUsage({ input_tokens: -5, output_tokens: 2 })); // undefined
 */
export function readableUsage(usage: Usage | undefined): Usage | undefined {
  if (!usage) return undefined;
  for (const k of COUNTS) {
    const n = usage[k];
    if (!Number.isSafeInteger(n) || n < 0) return undefined;
  }
  return usage;
}
