import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hashKey } from './keys.js';
import { isMasterKey, MasterKey, resolveMasterKey } from './master-key.js';

describe('MasterKey', () => {
  const master = new MasterKey('sk-tg-master-123');

  it('matches only the exact key', () => {
    expect(master.matches('sk-tg-master-123')).toBe(true);
    expect(isMasterKey('sk-tg-master-123', master)).toBe(true);
    expect(master.matches('sk-tg-master-12')).toBe(false);
    expect(master.matches('sk-tg-master-1234')).toBe(false);
    expect(master.matches('SK-TG-MASTER-123')).toBe(false);
    expect(master.matches('')).toBe(false);
    expect(master.matches(undefined)).toBe(false);
    expect(isMasterKey('x'.repeat(10_000), master)).toBe(false);
  });

  it('matches a token only when it is the hash of the exact key', () => {
    expect(master.matchesToken(hashKey('sk-tg-master-123'))).toBe(true);
    expect(master.matchesToken(hashKey('sk-tg-master-124'))).toBe(false);
    // The key itself is not its token, and a token of another length never matches.
    expect(master.matchesToken('sk-tg-master-123')).toBe(false);
    expect(master.matchesToken(hashKey('sk-tg-master-123').slice(0, 63))).toBe(false);
    expect(master.matchesToken('')).toBe(false);
  });

  it('never shows the key when printed or serialized', () => {
    expect(JSON.stringify({ master })).toBe('{"master":"[MasterKey]"}');
    expect(inspect(master)).toBe('[MasterKey]');
    expect(String(Object.values(master))).toBe('');
  });

  it('refuses an empty key', () => {
    expect(() => new MasterKey('')).toThrow(new TypeError('a master key must be a non-empty string'));
  });
});

describe('resolveMasterKey', () => {
  it('takes the config first, then TOLLGATE_MASTER_KEY, then LITELLM_MASTER_KEY', () => {
    const env = { TOLLGATE_MASTER_KEY: 'tg', LITELLM_MASTER_KEY: 'lite' };
    const fromConfig = resolveMasterKey('cfg', env)!;
    expect(fromConfig.source).toBe('config');
    expect(fromConfig.key.matches('cfg')).toBe(true);
    const fromTollgate = resolveMasterKey(null, env)!;
    expect(fromTollgate.source).toBe('env TOLLGATE_MASTER_KEY');
    expect(fromTollgate.key.matches('tg')).toBe(true);
    const fromLitellm = resolveMasterKey(undefined, { LITELLM_MASTER_KEY: 'lite' })!;
    expect(fromLitellm.source).toBe('env LITELLM_MASTER_KEY');
    expect(fromLitellm.key.matches('lite')).toBe(true);
  });

  it('is undefined (open mode) when nothing is set or the env values are empty', () => {
    expect(resolveMasterKey(null, {})).toBeUndefined();
    expect(resolveMasterKey(null, { TOLLGATE_MASTER_KEY: '', LITELLM_MASTER_KEY: '' })).toBeUndefined();
  });
});
