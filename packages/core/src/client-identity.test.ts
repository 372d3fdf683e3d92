import { describe, expect, it } from 'vitest';
import { DEFAULT_END_USER_FROM, resolveClientIdentity, type EndUserSource } from './client-identity.js';

const CLAUDE_CODE_USER_ID = '{"device_id":"f095aa","account_uuid":"","session_id":"3dab-1"}';
const opts = (endUserFrom: readonly EndUserSource[] = DEFAULT_END_USER_FROM) => ({ endUserHeader: 'x-tollgate-end-user', endUserFrom });

describe('resolveClientIdentity', () => {
  it("reads Claude Code's JSON metadata.user_id for its fields and never books it as the end user", () => {
    const id = resolveClientIdentity({ headers: { 'user-agent': 'claude-cli/2.1.328 (external, sdk-cli)' }, userId: CLAUDE_CODE_USER_ID }, opts());
    expect(id).toEqual({ endUser: undefined, sessionId: '3dab-1', agentId: undefined, client: 'claude-cli/2.1.328' });
  });

  it('takes the account_uuid of a JSON user_id when the account is known, and device_id only when configured', () => {
    const userId = '{"device_id":"dev-1","account_uuid":"acct-7","session_id":"s"}';
    expect(resolveClientIdentity({ headers: {}, userId }, opts()).endUser).toBe('acct-7');
    expect(resolveClientIdentity({ headers: {}, userId: CLAUDE_CODE_USER_ID }, opts(['account_uuid', 'device_id'])).endUser).toBe('f095aa');
  });

  it('follows the configured precedence: litellm_metadata.user, then the header, then a plain user_id', () => {
    const all = { headers: { 'x-tollgate-end-user': 'from-header' }, userId: 'plain-user', litellmUser: 'from-litellm' };
    expect(resolveClientIdentity(all, opts()).endUser).toBe('from-litellm');
    expect(resolveClientIdentity({ ...all, litellmUser: undefined }, opts()).endUser).toBe('from-header');
    expect(resolveClientIdentity({ ...all, litellmUser: '', headers: {} }, opts()).endUser).toBe('plain-user');
    expect(resolveClientIdentity(all, opts(['metadata.user_id', 'header'])).endUser).toBe('plain-user');
    expect(resolveClientIdentity(all, opts([])).endUser).toBeUndefined();
  });

  it('prefers the session header over the session in user_id, and reads the agent header', () => {
    const headers = { 'x-claude-code-session-id': 'hdr-session', 'x-claude-code-agent-id': 'agent-2', 'x-claude-code-parent-agent-id': 'agent-1' };
    expect(resolveClientIdentity({ headers, userId: CLAUDE_CODE_USER_ID }, opts())).toMatchObject({ sessionId: 'hdr-session', agentId: 'agent-2' });
  });

  it('ignores ids that are empty, too long or not strings, and JSON that is not an object', () => {
    const long = 'x'.repeat(201);
    expect(resolveClientIdentity({ headers: { 'x-claude-code-session-id': long, 'x-claude-code-agent-id': '  ' }, userId: '{"session_id": 5}' }, opts())).toEqual({
      endUser: undefined,
      sessionId: undefined,
      agentId: undefined,
      client: undefined,
    });
    expect(resolveClientIdentity({ headers: {}, userId: '{not json' }, opts()).endUser).toBeUndefined();
    expect(resolveClientIdentity({ headers: {}, userId: 42 }, opts()).endUser).toBeUndefined();
    expect(resolveClientIdentity({ headers: { 'user-agent': 'curl/8.5.0' } }, opts()).client).toBe('curl/8.5.0');
  });
});
