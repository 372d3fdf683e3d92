import { GatewayError, type ReadinessResult } from '@tollgate/core';
import type { SpendWriter } from './spend-writer.js';

/**
 * Whether the ledger can record a request's spend now, asked before the request goes upstream
 * and by readiness. It cannot while start-up has not loaded the ledger (the database was down
 * at start), nor once `maxQueuedRows` rows wait in memory because neither the database nor the
 * spool takes them (unless `whenFull` is 'serve': then requests go through and their rows are
 * counted as lost). Spend that cannot be recorded is not incurred: the request is refused.
 */
export class LedgerGate {
  /** Start-up loaded the ledger (migrations, spool replay, running totals). */
  loaded = false;

  constructor(
    private readonly writer: SpendWriter,
    private readonly whenFull: 'refuse' | 'serve',
  ) {}

  /** Throws TG_ERR_LEDGER_UNAVAILABLE (503) when the request's spend could not be recorded. */
  admit(): void {
    if (!this.loaded) throw unavailable('the gateway cannot record spend yet: its database has been unavailable since start; try again shortly');
    if (this.whenFull === 'refuse' && this.writer.full) throw unavailable('the gateway cannot record spend right now: its spend ledger can take no more rows; try again shortly');
  }

  readiness(): ReadinessResult {
    if (!this.loaded) return { ok: false, reason: 'the spend ledger is not loaded yet: start-up waits for the database' };
    const problem = this.writer.problem();
    return problem ? { ok: false, reason: problem } : true;
  }
}

function unavailable(message: string): GatewayError {
  return new GatewayError('TG_ERR_LEDGER_UNAVAILABLE', message, { headers: { 'retry-after': '5' } });
}
