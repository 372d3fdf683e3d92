import { formatTable } from './table.js';

/** One day × model × upstream key line of `GET /spend/reconcile`. */
export interface ReconcileLine {
  date: string;
  model: string;
  upstream_key: string;
  ledger_usd: string;
  anthropic_usd: string;
  drift_usd: string;
  flagged: boolean;
}

export interface ReconcileAnswer {
  start_date: string;
  end_date: string;
  threshold_usd: string;
  lines: ReconcileLine[];
}

/**
 * The reconciliation as a table, drift = ledger − Anthropic (USD), lines over the threshold
 * marked `!`.
 *
 * @example
 * formatReconcile(answer).at(-1); // '2 line(s) drift more than $0.01'
 */
export function formatReconcile(a: ReconcileAnswer): string[] {
  const rows = a.lines.map((l) => [l.date, l.model, l.upstream_key, l.ledger_usd, l.anthropic_usd, l.drift_usd, l.flagged ? '!' : '']);
  const flagged = a.lines.filter((l) => l.flagged).length;
  const head = `ledger vs Anthropic's cost report, ${a.start_date} to ${a.end_date} (USD; DRIFT = ledger - Anthropic)`;
  if (rows.length === 0) return [head, 'no spend on either side'];
  return [
    head,
    ...formatTable(['DAY', 'MODEL', 'UPSTREAM_KEY', 'LEDGER', 'ANTHROPIC', 'DRIFT', 'FLAG'], rows),
    flagged === 0 ? `no drift over $${a.threshold_usd}` : `${flagged} line(s) drift more than $${a.threshold_usd}`,
  ];
}
