import { describe, expect, it } from 'vitest';
import { parseCliArgs, UsageError } from './args.js';
import { claudeCodeSettings } from './claude-code-command.js';

const settings = (argv: string[], env: Record<string, string> = {}) => claudeCodeSettings(parseCliArgs(['claude-code', ...argv], env) as never);

describe('tollgate claude-code env', () => {
  it('prints the shell environment: the gateway mount and the key as a Bearer token', () => {
    expect(settings(['env', '--key', 'sk-tg-1', '--url', 'https://gw.example:4000/'])).toEqual([
      "export ANTHROPIC_BASE_URL='https://gw.example:4000/anthropic'",
      "export ANTHROPIC_AUTH_TOKEN='sk-tg-1'",
    ]);
  });

  it('takes the URL from TOLLGATE_URL, else localhost', () => {
    expect(settings(['env', '--key', 'k'], { TOLLGATE_URL: 'http://gw:9' })[0]).toBe("export ANTHROPIC_BASE_URL='http://gw:9/anthropic'");
    expect(settings(['env', '--key', 'k'])[0]).toBe("export ANTHROPIC_BASE_URL='http://localhost:4000/anthropic'");
  });

  it('with --own-login puts the key in its own header, leaving Claude Code its login', () => {
    expect(settings(['env', '--key', "it's", '--own-login'])).toEqual([
      "export ANTHROPIC_BASE_URL='http://localhost:4000/anthropic'",
      "export ANTHROPIC_CUSTOM_HEADERS='x-tollgate-key: it'\\''s'",
    ]);
    expect(settings(['env', '--key', 'k', '--own-login', '--key-header', 'X-Gw-Key'])[1]).toBe("export ANTHROPIC_CUSTOM_HEADERS='x-gw-key: k'");
  });

  it('with --settings prints the settings.json env block', () => {
    expect(JSON.parse(settings(['env', '--key', 'sk-tg-1', '--settings']).join('\n'))).toEqual({
      env: { ANTHROPIC_BASE_URL: 'http://localhost:4000/anthropic', ANTHROPIC_AUTH_TOKEN: 'sk-tg-1' },
    });
  });

  it('refuses a missing key, an unknown command, a bad URL and a stray --key-header', () => {
    const usage = (argv: string[]) => {
      try {
        parseCliArgs(['claude-code', ...argv]);
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as Error).message;
      }
      throw new Error('expected a usage error');
    };
    expect(usage(['env'])).toBe('claude-code env needs --key KEY (the virtual key Claude Code should use)');
    expect(usage(['run'])).toBe('unknown claude-code command "run" (expected env)');
    expect(usage(['env', '--key', 'k', '--url', 'gw:4000'])).toBe('--url must start with http:// or https://, got "gw:4000"');
    expect(usage(['env', '--key', 'k', '--key-header', 'x'])).toBe('--key-header only applies with --own-login');
  });
});
