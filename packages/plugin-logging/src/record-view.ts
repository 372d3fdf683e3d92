import type { CompletionRecord } from '@tollgate/core';

/** A captured body: redacted JSON text, cut at the size cap. */
export interface CapturedBody {
  text: string;
  truncated: boolean;
}

/** What this plugin keeps per request (`ctx.state.logging`). */
export interface LoggingState {
  requestBody?: CapturedBody;
  responseBody?: CapturedBody;
}

declare module '@tollgate/core' {
  interface RequestState {
    /** What the logging plugin learned about the request for its sinks. */
    logging?: LoggingState;
  }
}

/** The price the cost plugin put on the request, when one is loaded. */
export type RecordCost = { pico: bigint } | { unpriced: true };

/**
 * Reads `state.cost` without importing the cost plugin (plugins never import each other):
 * `priced.spend` is exact pico-USD. Absent when no cost plugin ran or it priced nothing.
 */
export function costOf(record: CompletionRecord): RecordCost | undefined {
  const priced = (record.state as { cost?: { priced?: { spend?: unknown; unpriced?: unknown } } }).cost?.priced;
  if (!priced) return undefined;
  if (priced.unpriced === true) return { unpriced: true };
  return typeof priced.spend === 'bigint' ? { pico: priced.spend } : undefined;
}

/** The error type of a failed request: the gateway's own, else the HTTP status (OTel's rule). */
export function errorTypeOf(record: CompletionRecord): string | undefined {
  if (record.error) return record.error.type;
  return record.status >= 400 ? String(record.status) : undefined;
}
