import { describe, expect, it } from 'vitest';
import { formatPrices, formatSpendLogs, formatSpendReport, type SpendReportRow } from './spend-format.js';

const row = (key: string | null, spendExact: string, requests: number, unpriced = 0): SpendReportRow => ({
  key, spend: Number(spendExact), spend_exact: spendExact, requests, prompt_tokens: 10 * requests, completion_tokens: 5 * requests, unpriced_requests: unpriced,
});

describe('formatSpendReport', () => {
  it('adds the exact decimal total, beyond what a float can hold', () => {
    expect(formatSpendReport('user', [row('carol', '9000.000000000001', 1), row('dave', '0.000000000002', 2), row(null, '0', 1, 1)])).toEqual([
      'USER   REQUESTS  SPEND_USD          PROMPT_TOKENS  COMPLETION_TOKENS  UNPRICED',
      'carol  1         9000.000000000001  10             5                  0',
      'dave   2         0.000000000002     20             10                 0',
      '-      1         0                  10             5                  1',
      'total: 4 requests, $9000.000000000003 (1 unpriced: not included)',
    ]);
    expect(formatSpendReport('team', [row('a', '1', 1)]).at(-1)).toBe('total: 1 request, $1');
    expect(formatSpendReport('model', [])).toEqual(['no requests in this period']);
  });

  it('prints control characters in a group as "?"', () => {
    expect(formatSpendReport('tag', [row('a\u001b[2Jb', '1', 1)])[1]).toBe('a?[2Jb  1         1          10             5                  0');
  });
});

describe('formatSpendLogs', () => {
  it('names a key without an alias by the start of its token', () => {
    const log = {
      request_id: 'r', call_type: 'models', model: null, api_key: 'f'.repeat(64), key_alias: null, end_user: null, request_tags: [], status_code: 529,
      prompt_tokens: 0, completion_tokens: 0, spend_exact: '0', unpriced: false, startTime: '2025-06-15T12:00:00.123Z',
    };
    expect(formatSpendLogs({ data: [log], total: 1, page: 1, page_size: 50, total_pages: 1 })).toEqual([
      'TIME                  KEY           CALL    MODEL  END_USER  TAGS  STATUS  PROMPT_TOKENS  COMPLETION_TOKENS  SPEND_USD',
      '2025-06-15T12:00:00Z  ffffffffffff  models  -      -         -     529     0              0                  0',
      '1 request',
    ]);
    expect(formatSpendLogs({ data: [], total: 0, page: 1, page_size: 50, total_pages: 0 })).toEqual(['no requests']);
  });

  it('says "N+" when the gateway counted only part of the matching rows', () => {
    const log = {
      request_id: 'r', call_type: 'messages', model: 'm', api_key: null, key_alias: 'k', end_user: null, request_tags: [], status_code: 200,
      prompt_tokens: 1, completion_tokens: 1, spend_exact: '0', unpriced: false, startTime: '2025-06-15T12:00:00.000Z',
    };
    expect(formatSpendLogs({ data: [log], total: 10_000, total_is_lower_bound: true, page: 1, page_size: 1, total_pages: 10_000 }).at(-1)).toBe(
      'newest 1 of 10000+ requests (--limit N for more)',
    );
  });
});

describe('formatPrices', () => {
  it('leaves aliases and long-context rates to the wide view', () => {
    const rates = { input: '3', output: '15', cacheWrite5m: '3.75', cacheWrite1h: '6', cacheRead: '0.3' };
    const lines = formatPrices([{ id: 'm', aliases: ['n'], rows: [{ unpriced: true }, { unpriced: false, standard: rates, batch: { ...rates, input: '1.5', output: '7.5' } }] }]);
    expect(lines.slice(1)).toEqual([
      'MODEL  FROM  IN        OUT  W5M   W1H  READ  B_IN  B_OUT',
      'm      -     unpriced  -    -     -    -     -     -',
      'm      -     3         15   3.75  6    0.3   1.5   7.5',
    ]);
  });

  it('prints one line per dated row, unpriced rows as such', () => {
    const rates = { input: '3', output: '15', cacheWrite5m: '3.75', cacheWrite1h: '6', cacheRead: '0.3' };
    const lines = formatPrices([
      { id: 'm', aliases: [], rows: [{ unpriced: true }, { effectiveFrom: '2025-01-01', unpriced: false, provisional: true, standard: rates }] },
    ], { wide: true });
    expect(lines.slice(1)).toEqual([
      'MODEL  ALIASES  FROM        INPUT     OUTPUT  CACHE_WRITE_5M  CACHE_WRITE_1H  CACHE_READ  BATCH_INPUT  BATCH_OUTPUT  LONG_CONTEXT_IN/OUT  FLAG',
      'm      -        -           unpriced  -       -               -               -           -            -             -                    -',
      'm      -        2025-01-01  3         15      3.75            6               0.3         -            -             -                    provisional',
    ]);
  });
});
