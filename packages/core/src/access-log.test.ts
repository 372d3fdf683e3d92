import { describe, expect, it } from 'vitest';
import { accessLine } from './access-log.js';
import type { CompletionRecord } from './events.js';

const base: CompletionRecord = {
  id: 'req-1', method: 'POST', path: '/anthropic/v1/messages', provider: 'anthropic', routeKind: 'messages', stream: false, status: 200,
  tags: [], timings: { start: 1, end: 3, durationMs: 2.5 }, aborted: false, state: {},
};

describe('accessLine', () => {
  it('is one JSON line in pino format, leaving out what is unknown', () => {
    const line = accessLine(base, 1700000000000);
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({ level: 30, time: 1700000000000, log: 'access', reqId: 'req-1', method: 'POST', path: '/anthropic/v1/messages', status: 200, stream: false, durationMs: 2.5, msg: 'request' });
  });

  it('names the caller by alias, hash prefix or kind, and escapes what clients control', () => {
    const r = { ...base, model: 'm"x', endUser: 'u\n1', principal: { kind: 'virtual' as const, keyHash: 'abcdef0123456789ff' }, aborted: true, error: { code: 'TG_ERR_X', type: 'api_error', message: 'm' }, timings: { ...base.timings, upstreamMs: 1.25 } };
    expect(JSON.parse(accessLine(r, 5))).toEqual({
      level: 30, time: 5, log: 'access', reqId: 'req-1', method: 'POST', path: '/anthropic/v1/messages', status: 200, model: 'm"x', stream: false,
      caller: 'abcdef012345', endUser: 'u\n1', durationMs: 2.5, upstreamMs: 1.25, aborted: true, error: 'api_error', errorCode: 'TG_ERR_X', msg: 'request',
    });
    expect(JSON.parse(accessLine({ ...base, principal: { kind: 'virtual', keyHash: 'ff', keyAlias: 'alice' } }, 5)).caller).toBe('alice');
    expect(JSON.parse(accessLine({ ...base, principal: { kind: 'master' } }, 5)).caller).toBe('master');
  });
});
