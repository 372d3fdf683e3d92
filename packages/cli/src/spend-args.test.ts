import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCliArgs } from './args.js';
import { parseSpendArgs, type SpendCommand } from './spend-args.js';
import { UsageError } from './usage-error.js';

const NOW = Date.parse('2025-06-15T12:00:00.000Z');

function usageError(argv: string[]): string {
  try {
    parseSpendArgs(argv, NOW);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('parseSpendArgs', () => {
  it('maps spend report to GET /spend/report, --since as an instant before now, --until as given', () => {
    expect(parseSpendArgs(['spend', 'report', '--by', 'end_user', '--since', '7d', '--until', '2025-06-14'], NOW)).toEqual({
      command: 'spend',
      action: 'report',
      by: 'end_user',
      json: false,
      call: { method: 'GET', path: '/spend/report', query: { group_by: 'end_user', start_date: '2025-06-08T12:00:00.000Z', end_date: '2025-06-14' } },
    });
    const since = (text: string) => (parseSpendArgs(['spend', 'report', '--by', 'tag', '--since', text], NOW) as { call: { query: Record<string, string> } }).call.query.start_date;
    expect([since('24h'), since('2w'), since('2025-01-31'), since('2025-01-31T08:00:00Z')]).toEqual([
      '2025-06-14T12:00:00.000Z', '2025-06-01T12:00:00.000Z', '2025-01-31', '2025-01-31T08:00:00Z',
    ]);
  });

  it('maps spend logs filters to /spend/logs parameters (the key as its token), one page of --limit rows (default 50)', () => {
    expect(parseSpendArgs(['spend', 'logs', '--key', 'sk-abc', '--user', 'u', '--end-user', 'e', '--tag', 't', '--model', 'm', '--limit', '5', '--json', '--url', 'http://gw:1', '--master-key', 'k'], NOW)).toEqual({
      command: 'spend',
      action: 'logs',
      json: true,
      url: 'http://gw:1',
      masterKey: 'k',
      call: { method: 'GET', path: '/spend/logs', query: { api_key: createHash('sha256').update('sk-abc').digest('hex'), user_id: 'u', end_user: 'e', tag: 't', model: 'm', page: '1', page_size: '5' } },
    });
    expect(parseSpendArgs(['spend', 'logs'], NOW)).toMatchObject({ call: { query: { page: '1', page_size: '50' } } });
  });

  it('maps rebuild-rollups (all days, or from --since) and retention to their admin routes', () => {
    expect((parseSpendArgs(['spend', 'rebuild-rollups'], NOW) as SpendCommand).call).toEqual({ method: 'POST', path: '/spend/rollups/rebuild', body: {} });
    expect((parseSpendArgs(['spend', 'rebuild-rollups', '--since', '2d'], NOW) as SpendCommand).call).toEqual({ method: 'POST', path: '/spend/rollups/rebuild', body: { since: new Date(NOW - 2 * 86_400_000).toISOString() } });
    expect((parseSpendArgs(['spend', 'retention'], NOW) as SpendCommand).call).toEqual({ method: 'POST', path: '/spend/retention/run', body: {} });
  });

  it('maps settle-batches to POST /spend/batches/settle', () => {
    expect(parseSpendArgs(['spend', 'settle-batches'], NOW)).toEqual({ command: 'spend', action: 'settle-batches', json: false, call: { method: 'POST', path: '/spend/batches/settle', body: {} } });
  });

  it('maps prices to GET /prices, and is reached from the command line', () => {
    expect(parseCliArgs(['prices', '--json'])).toEqual({ command: 'prices', action: 'list', wide: false, json: true, call: { method: 'GET', path: '/prices' } });
    expect(parseCliArgs(['prices', '--wide'])).toEqual({ command: 'prices', action: 'list', wide: true, json: false, call: { method: 'GET', path: '/prices' } });
    expect(parseCliArgs(['prices', 'reload'])).toEqual({ command: 'prices', action: 'reload', json: false, call: { method: 'POST', path: '/prices/reload', body: {} } });
    expect(parseCliArgs(['prices', 'diff', 'new.yaml'])).toEqual({ command: 'prices', action: 'diff', file: 'new.yaml', json: false, call: { method: 'POST', path: '/prices/diff', body: {} } });
  });

  it('maps reconcile and reprice --since to their calls, 7 days by default', () => {
    const now = Date.parse('2026-12-07T12:00:00Z');
    expect(parseSpendArgs(['spend', 'reconcile'], now)).toEqual({ command: 'spend', action: 'reconcile', json: false, call: { method: 'GET', path: '/spend/reconcile', query: { start_date: '2026-11-30T12:00:00.000Z' } } });
    expect((parseSpendArgs(['spend', 'reconcile', '--since', '2026-12-01', '--until', '2026-12-03'], now) as SpendCommand).call.query).toEqual({ start_date: '2026-12-01', end_date: '2026-12-03' });
    expect((parseSpendArgs(['spend', 'reprice', '--since', '24h', '--model', 'm'], now) as SpendCommand).call.body).toEqual({ model: 'm', since: '2026-12-06T12:00:00.000Z' });
    expect(parseCliArgs(['spend', 'logs'])).toMatchObject({ command: 'spend', action: 'logs' });
    expect(parseCliArgs(['spend', '--help'])).toEqual({ command: 'help', topic: 'spend' });
    expect(parseCliArgs(['prices', '--help'])).toEqual({ command: 'help', topic: 'prices' });
  });

  it('refuses what it cannot run', () => {
    expect(usageError(['spend'])).toBe('spend needs a command: report, logs, reprice, settle-batches, reconcile, rebuild-rollups, retention');
    expect(usageError(['spend', 'sum'])).toBe('unknown spend command "sum" (one of report, logs, reprice, settle-batches, reconcile, rebuild-rollups, retention)');
    expect(usageError(['spend', 'retention', '--since', '7d'])).toBe('--since does not apply to spend retention');
    expect(usageError(['spend', 'settle-batches', '--model', 'm'])).toBe('--model does not apply to spend settle-batches');
    expect(usageError(['spend', 'report', '--by', 'tag', 'extra'])).toBe('unexpected argument "extra"');
    expect(usageError(['spend', 'report', '--by', 'tag', '--limit', '3'])).toBe('--limit does not apply to spend report');
    expect(usageError(['spend', 'logs', '--by', 'tag'])).toBe('--by does not apply to spend logs');
    expect(usageError(['prices', 'claude'])).toBe('unknown prices command "claude" (reload, diff FILE, or none to list)');
    expect(usageError(['prices', 'diff'])).toBe('prices diff needs a price file: tollgate prices diff FILE');
    expect(usageError(['prices', 'reload', 'now'])).toBe('unexpected argument "now"');
    expect(usageError(['spend', 'logs', '--limit', '0'])).toBe('--limit must be a whole number from 1 to 1000, got "0"');
    expect(usageError(['spend', 'logs', '--limit', '1001'])).toBe('--limit must be a whole number from 1 to 1000, got "1001"');
    expect(usageError(['spend', 'logs', '--since', '0d'])).toBe('--since must be a duration such as 24h, 7d or 2w, or a date such as 2025-01-31, got "0d"');
    expect(usageError(['spend', 'logs', '--until', '7d'])).toBe('--until must be a date such as 2025-01-31 or a datetime such as 2025-01-31T12:00:00Z, got "7d"');
    expect(usageError(['spend', 'logs', '--nope'])).toMatch(/^Unknown option '--nope'/);
  });
});
