import { describe, expect, it } from 'vitest';
import type { CompletionRecord } from '@tollgate/core';
import { failureOf, principalLabels } from './labels.js';

const base = { status: 200, aborted: false } as CompletionRecord;

describe('failureOf', () => {
  it("a gateway error: its own type and TG_ERR_* code, whatever the status", () => {
    expect(failureOf({ ...base, status: 429, error: { code: 'TG_ERR_BUDGET_EXCEEDED', type: 'rate_limit_error', message: 'over' } })).toEqual({ error_type: 'rate_limit_error', error_code: 'TG_ERR_BUDGET_EXCEEDED' });
    expect(failureOf({ ...base, status: 200, error: { code: 'TG_ERR_UPSTREAM_STREAM', type: 'overloaded_error', message: 'mid-stream' } })).toEqual({ error_type: 'overloaded_error', error_code: 'TG_ERR_UPSTREAM_STREAM' });
  });

  it('a client that went away, even after a 200 began', () => {
    expect(failureOf({ ...base, aborted: true })).toEqual({ error_type: 'aborted', error_code: 'aborted' });
    expect(failureOf({ ...base, status: 499, aborted: true })).toEqual({ error_type: 'aborted', error_code: 'aborted' });
  });

  it("an upstream error status: Anthropic's type for it", () => {
    const types = [400, 401, 402, 403, 404, 413, 429, 500, 504, 529, 418, 503].map((status) => failureOf({ ...base, status })?.error_type);
    expect(types).toEqual(['invalid_request_error', 'authentication_error', 'billing_error', 'permission_error', 'not_found_error', 'request_too_large', 'rate_limit_error', 'api_error', 'timeout_error', 'overloaded_error', 'invalid_request_error', 'api_error']);
    expect(failureOf({ ...base, status: 529 })?.error_code).toBe('upstream');
  });

  it('success is not a failure', () => {
    expect([failureOf(base), failureOf({ ...base, status: 304 })]).toEqual([undefined, undefined]);
  });
});

describe('principalLabels', () => {
  it('the first 12 characters of the key hash, empty strings for what is unknown, end_user only when asked', () => {
    const r = { ...base, model: 'claude-haiku-4-5', principal: { kind: 'virtual', keyHash: '0123456789abcdef'.repeat(4), keyAlias: 'app' }, endUser: 'eu' } as CompletionRecord;
    expect(principalLabels(r, true)).toEqual({ model: 'claude-haiku-4-5', key_hash: '0123456789ab', key_alias: 'app', user: '', team: '', end_user: 'eu' });
    expect(principalLabels({ ...base } as CompletionRecord, false)).toEqual({ model: '', key_hash: '', key_alias: '', user: '', team: '' });
  });
});
