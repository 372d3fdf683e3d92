import { describe, expect, it } from 'vitest';
import { formatKeyDetails, formatKeyList, formatNewKey, keyLabel, type KeyView } from './key-format.js';

const TOKEN = '11279bdf48bec51622b074782288204595165f5fc701cb74a743eb4229e07cd1';

function view(over: Partial<KeyView> = {}): KeyView {
  return {
    token: TOKEN,
    key_name: 'sk-...Kz9u',
    key_alias: 'ci-bot',
    spend: 0.0000001,
    max_budget: 25,
    budget_duration: '30d',
    budget_reset_at: '2026-12-26T02:16:21.616Z',
    expires: '2026-12-03T02:16:21.616Z',
    models: ['claude-a', 'claude-b'],
    user_id: 'alice',
    team_id: null,
    metadata: { env: 'ci' },
    rpm_limit: 60,
    tpm_limit: null,
    max_parallel_requests: 4,
    blocked: false,
    created_at: '2026-11-26T02:16:21.615Z',
    updated_at: '2026-11-26T02:16:21.700Z',
    ...over,
  };
}

describe('formatKeyDetails', () => {
  it('shows every field but the secret, one per line', () => {
    expect(formatKeyDetails(view())).toEqual([
      `token                  ${TOKEN}`,
      'key_name               sk-...Kz9u',
      'key_alias              ci-bot',
      'user_id                alice',
      'team_id                -',
      'models                 claude-a, claude-b',
      'spend                  0.0000001',
      'max_budget             25',
      'budget_duration        30d',
      'budget_reset_at        2026-12-26T02:16:21.616Z',
      'expires                2026-12-03T02:16:21.616Z',
      'rpm_limit              60',
      'tpm_limit              -',
      'max_parallel_requests  4',
      'blocked                no',
      'metadata               {"env":"ci"}',
      'created_at             2026-11-26T02:16:21.615Z',
      'updated_at             2026-11-26T02:16:21.700Z',
    ]);
  });

  it('says all for no model list, never for no expiry, yes when blocked', () => {
    const lines = formatKeyDetails(view({ models: [], expires: null, blocked: true, max_budget: null, spend: 12.5 }));
    expect(lines).toContain('models                 all');
    expect(lines).toContain('expires                never');
    expect(lines).toContain('blocked                yes');
    expect(lines).toContain('max_budget             -');
    expect(lines).toContain('spend                  12.5');
  });
});

describe('formatNewKey', () => {
  it('shows the secret once, with the warning, then the details', () => {
    const answer = { key: 'sk-Up2egG7C_m_XSTDA9oXfyIP_uBXqKz9u', ...view() };
    expect(formatNewKey(answer, 'create')).toEqual([
      'New key: sk-Up2egG7C_m_XSTDA9oXfyIP_uBXqKz9u',
      'Store it now: it cannot be shown again (the gateway keeps only its hash).',
      '',
      ...formatKeyDetails(view()),
    ]);
    expect(formatNewKey(answer, 'regenerate').slice(0, 4)).toEqual([
      'New key: sk-Up2egG7C_m_XSTDA9oXfyIP_uBXqKz9u',
      'Store it now: it cannot be shown again (the gateway keeps only its hash).',
      'The old key no longer works.',
      '',
    ]);
  });
});

describe('formatKeyList', () => {
  it('is a table with the paging line', () => {
    const keys = [view(), view({ key_alias: null, key_name: 'sk-...zz00', user_id: null, team_id: 'search', models: [], spend: 0, max_budget: null, expires: null, blocked: true })];
    expect(formatKeyList({ keys, total_count: 12, current_page: 2, total_pages: 6 })).toEqual([
      'ALIAS   KEY_NAME    USER   TEAM    MODELS             SPEND/MAX_BUDGET  EXPIRES               BLOCKED',
      'ci-bot  sk-...Kz9u  alice  -       claude-a,claude-b  0.0000001/25      2026-12-03T02:16:21Z  no',
      '-       sk-...zz00  -      search  all                0/-               never                 yes',
      'page 2 of 6 (12 keys)',
    ]);
  });

  it('says so when there are no keys, or none on the page asked for', () => {
    expect(formatKeyList({ keys: [], total_count: 0, current_page: 1, total_pages: 0 })).toEqual(['no keys']);
    expect(formatKeyList({ keys: [], total_count: 1, current_page: 3, total_pages: 1 })).toEqual(['no keys on this page', 'page 3 of 1 (1 key)']);
  });
});

describe('keyLabel', () => {
  it('shows a token whole and a secret only as its key_name', () => {
    expect(keyLabel(TOKEN)).toBe(TOKEN);
    expect(keyLabel('sk-Up2egG7C_m_XSTDA9oXfyIP_uBXqKz9u')).toBe('sk-...Kz9u');
    expect(keyLabel('short')).toBe('...');
  });
});
