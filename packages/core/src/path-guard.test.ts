import { describe, expect, it } from 'vitest';
import { assertSafePath } from './path-guard.js';

describe('assertSafePath', () => {
  it.each(['/v1/messages', '/v1/messages/batches/msgbatch_01/results', '/v1/models/claude-sonnet-4-5', '/v1/some.new.endpoint', '/v1/files/file_01..x'])('accepts %s', (p) => {
    expect(() => assertSafePath(p)).not.toThrow();
  });

  it.each(['/../key/generate', '/v1/../../admin', '/v1/./messages', '/..', '//evil.example/v1', '/v1/%2e%2e/x', '/v1/%2E%2e/x', '/v1%2fmessages', '/v1/\\..\\x', '/v1/%5c', '/v1/%00', 'v1/messages', ''])('rejects %s', (p) => {
    expect(() => assertSafePath(p)).toThrow('invalid request path');
  });
});
