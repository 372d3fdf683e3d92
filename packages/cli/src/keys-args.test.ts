import { describe, expect, it } from 'vitest';
import { parseCliArgs } from './args.js';
import { parseKeysArgs } from './keys-args.js';
import { UsageError } from './usage-error.js';

const TOKEN = 'a'.repeat(64);

function usageError(argv: string[]): string {
  try {
    parseCliArgs(['keys', ...argv]);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

const call = (...argv: string[]) => (parseKeysArgs(argv) as { call: unknown }).call;

describe('parseKeysArgs', () => {
  it('is what `tollgate keys …` parses to', () => {
    expect(parseCliArgs(['keys', 'list', '--url', 'http://gw:4000', '--master-key', 'sk-m', '--json'])).toEqual({
      command: 'keys',
      action: 'list',
      call: { method: 'GET', path: '/key/list', query: { return_full_object: 'true' } },
      url: 'http://gw:4000',
      masterKey: 'sk-m',
      json: true,
    });
    expect(parseCliArgs(['keys', 'info', TOKEN])).toEqual({
      command: 'keys',
      action: 'info',
      call: { method: 'GET', path: '/key/info', query: { key: TOKEN } },
      json: false,
    });
    expect(parseCliArgs(['keys', '--help'])).toEqual({ command: 'help', topic: 'keys' });
    expect(parseCliArgs(['keys', 'create', '-h'])).toEqual({ command: 'help', topic: 'keys' });
  });

  it('maps every field flag to its API field for create', () => {
    expect(
      call(
        'create', '--alias', 'ci-bot', '--user', 'alice', '--team', 'search', '--models', 'claude-a, claude-b,,', '--max-budget', '12.5',
        '--budget-duration', '30d', '--duration', '7d', '--rpm', '60', '--tpm', '0', '--max-parallel', '4', '--metadata', '{"env":"ci","n":[1]}', '--blocked',
      ),
    ).toEqual({
      method: 'POST',
      path: '/key/generate',
      body: {
        key_alias: 'ci-bot',
        user_id: 'alice',
        team_id: 'search',
        models: ['claude-a', 'claude-b'],
        max_budget: 12.5,
        budget_duration: '30d',
        duration: '7d',
        rpm_limit: 60,
        tpm_limit: 0,
        max_parallel_requests: 4,
        metadata: { env: 'ci', n: [1] },
        blocked: true,
      },
    });
    expect(call('create')).toEqual({ method: 'POST', path: '/key/generate', body: {} });
    expect(call('create', '--models', '')).toEqual({ method: 'POST', path: '/key/generate', body: { models: [] } });
  });

  it('clears limits, budgets and durations with "none"', () => {
    expect(call('update', TOKEN, '--rpm', 'none', '--tpm', 'none', '--max-parallel', 'none', '--max-budget', 'none', '--budget-duration', 'none', '--duration', 'none')).toEqual({
      method: 'POST',
      path: '/key/update',
      body: { key: TOKEN, rpm_limit: null, tpm_limit: null, max_parallel_requests: null, max_budget: null, budget_duration: null, duration: null },
    });
  });

  it('asks for info by token, so a secret never lands in a URL', () => {
    // sha256('sk-1'), as `printf sk-1 | sha256sum` gives it
    expect(call('info', 'sk-1')).toEqual({ method: 'GET', path: '/key/info', query: { key: '0f2c10bf3d128c719c6bfa4ecbae94b7fceebaea6e4438fef38a90e5acc326f3' } });
  });

  it('maps the one-key commands', () => {
    expect(call('block', 'sk-1')).toEqual({ method: 'POST', path: '/key/block', body: { key: 'sk-1' } });
    expect(call('unblock', TOKEN)).toEqual({ method: 'POST', path: '/key/unblock', body: { key: TOKEN } });
    expect(call('regenerate', 'sk-1')).toEqual({ method: 'POST', path: '/key/regenerate', body: { key: 'sk-1' } });
    expect(call('regenerate', 'sk-1', '--duration', '1mo')).toEqual({ method: 'POST', path: '/key/regenerate', body: { key: 'sk-1', duration: '1mo' } });
    expect(call('update', 'sk-1', '--alias', 'new')).toEqual({ method: 'POST', path: '/key/update', body: { key: 'sk-1', key_alias: 'new' } });
  });

  it('deletes by keys, by aliases, or both', () => {
    expect(call('delete', 'sk-1', TOKEN)).toEqual({ method: 'POST', path: '/key/delete', body: { keys: ['sk-1', TOKEN] } });
    expect(call('delete', '--alias', 'a', '--alias', 'b')).toEqual({ method: 'POST', path: '/key/delete', body: { key_aliases: ['a', 'b'] } });
    expect(call('delete', 'sk-1', '--alias', 'a')).toEqual({ method: 'POST', path: '/key/delete', body: { keys: ['sk-1'], key_aliases: ['a'] } });
  });

  it('maps list paging and filters to the query', () => {
    expect(call('list', '--page', '2', '--size', '50', '--user', 'alice', '--team', 'search', '--alias', 'ci')).toEqual({
      method: 'GET',
      path: '/key/list',
      query: { page: '2', size: '50', user_id: 'alice', team_id: 'search', key_alias: 'ci', return_full_object: 'true' },
    });
  });

  it('rejects a missing or unknown command, and missing or extra keys', () => {
    expect(usageError([])).toBe('keys needs a command: create, list, info, update, block, unblock, delete, regenerate');
    expect(usageError(['rotate'])).toBe('unknown keys command "rotate" (one of create, list, info, update, block, unblock, delete, regenerate)');
    expect(usageError(['info'])).toBe('keys info needs a key (the secret sk-… or its 64-hex token)');
    expect(usageError(['block', 'a', 'b'])).toBe('unexpected argument "b"');
    expect(usageError(['create', 'sk-1'])).toBe('unexpected argument "sk-1"');
    expect(usageError(['list', 'x'])).toBe('unexpected argument "x"');
    expect(usageError(['delete'])).toBe('keys delete needs one or more keys, or --alias');
    expect(usageError(['update', 'sk-1'])).toBe('keys update needs at least one field to change (--alias, --models, --rpm, …)');
  });

  it('rejects flags the command does not take', () => {
    expect(usageError(['list', '--rpm', '3'])).toBe('--rpm does not apply to keys list');
    expect(usageError(['info', 'sk-1', '--alias', 'a'])).toBe('--alias does not apply to keys info');
    expect(usageError(['create', '--page', '2'])).toBe('--page does not apply to keys create');
    expect(usageError(['delete', '--user', 'u'])).toBe('--user does not apply to keys delete');
    expect(usageError(['create', '--alias', 'a', '--alias', 'b'])).toBe('--alias is given more than once');
    expect(usageError(['create', '--port', '1'])).toMatch(/^Unknown option '--port'/);
    expect(usageError(['create', '--rpm'])).toMatch(/^Option '--rpm <value>' argument missing/);
  });

  it('rejects malformed numbers and metadata', () => {
    expect(usageError(['create', '--rpm=-1'])).toBe('--rpm must be a whole number (0 or more) or "none", got "-1"');
    expect(usageError(['create', '--tpm', '1.5'])).toBe('--tpm must be a whole number (0 or more) or "none", got "1.5"');
    expect(usageError(['create', '--max-parallel', 'lots'])).toBe('--max-parallel must be a whole number (0 or more) or "none", got "lots"');
    expect(usageError(['create', '--max-budget', '1e3'])).toBe('--max-budget must be an amount in USD such as 25 or 0.5, or "none", got "1e3"');
    expect(usageError(['create', '--max-budget', '$5'])).toBe('--max-budget must be an amount in USD such as 25 or 0.5, or "none", got "$5"');
    expect(usageError(['list', '--page', '0'])).toBe('--page must be a whole number from 1, got "0"');
    expect(usageError(['list', '--size', 'none'])).toBe('--size must be a whole number from 1, got "none"');
    expect(usageError(['create', '--metadata', '{bad'])).toBe('--metadata must be a JSON object such as \'{"team":"search"}\', got "{bad"');
    expect(usageError(['create', '--metadata', '[1]'])).toBe('--metadata must be a JSON object such as \'{"team":"search"}\', got "[1]"');
    expect(usageError(['create', '--metadata', 'null'])).toBe('--metadata must be a JSON object such as \'{"team":"search"}\', got "null"');
  });
});
