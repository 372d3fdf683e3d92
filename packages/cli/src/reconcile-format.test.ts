import { describe, expect, it } from 'vitest';
import { formatReconcile } from './reconcile-format.js';

describe('formatReconcile', () => {
  it('prints one line per day, model and key, drift flagged, and a summary', () => {
    const lines = formatReconcile({
      start_date: '2026-12-01T00:00:00.000Z',
      end_date: '2026-12-07T12:00:00.000Z',
      threshold_usd: '0.01',
      lines: [
        { date: '2026-12-06', model: 'claude-haiku-4-5-20251001', upstream_key: 'primary', ledger_usd: '0.0035', anthropic_usd: '0.0035', drift_usd: '0', flagged: false },
        { date: '2026-12-06', model: 'claude-sonnet-4-6', upstream_key: 'primary', ledger_usd: '0', anthropic_usd: '0.125', drift_usd: '-0.125', flagged: true },
      ],
    });
    expect(lines).toEqual([
      "ledger vs Anthropic's cost report, 2026-12-01T00:00:00.000Z to 2026-12-07T12:00:00.000Z (USD; DRIFT = ledger - Anthropic)",
      'DAY         MODEL                      UPSTREAM_KEY  LEDGER  ANTHROPIC  DRIFT   FLAG',
      '2026-12-06  claude-haiku-4-5-20251001  primary       0.0035  0.0035     0',
      '2026-12-06  claude-sonnet-4-6          primary       0       0.125      -0.125  !',
      '1 line(s) drift more than $0.01',
    ]);
    expect(formatReconcile({ start_date: 'a', end_date: 'b', threshold_usd: '0.01', lines: [] }).at(-1)).toBe('no spend on either side');
  });
});
