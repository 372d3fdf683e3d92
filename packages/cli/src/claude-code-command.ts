import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';

/** `tollgate claude-code env`: the settings that point Claude Code at the gateway with a key. */
export interface ClaudeCodeCommand {
  command: 'claude-code';
  key: string;
  /** The gateway's base URL (no /anthropic). */
  url: string;
  /** The key goes in this header (ANTHROPIC_CUSTOM_HEADERS), so Claude Code keeps its own login. */
  keyHeader?: string;
  format: 'env' | 'settings';
}

export const CLAUDE_CODE_USAGE = `Claude Code:
  claude-code env --key KEY [--url URL] [--own-login [--key-header H]] [--settings]
                                       Print the environment (or --settings: the settings.json "env"
                                       block) that sends Claude Code through the gateway with KEY.
                                       --own-login: KEY travels in its own header (default
                                       x-tollgate-key) and Claude Code keeps its own login or API key
                                       (the key must allow own credentials; see docs/claude-code.md)`;

/**
 * Parses the arguments after `claude-code`.
 *
 * @example
 * parseClaudeCodeArgs(['env', '--key', 'sk-tg-1'], {}).url; // 'http://localhost:4000'
 */
export function parseClaudeCodeArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ClaudeCodeCommand {
  const [action, ...rest] = argv;
  if (action !== 'env') throw new UsageError(action === undefined ? 'claude-code needs a command: env' : `unknown claude-code command "${action}" (expected env)`);
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { key: { type: 'string' }, url: { type: 'string' }, 'own-login': { type: 'boolean' }, 'key-header': { type: 'string' }, settings: { type: 'boolean' } },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!values.key) throw new UsageError('claude-code env needs --key KEY (the virtual key Claude Code should use)');
  if (values['key-header'] !== undefined && !values['own-login']) throw new UsageError('--key-header only applies with --own-login');
  const url = (values.url ?? env.TOLLGATE_URL ?? 'http://localhost:4000').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--url must start with http:// or https://, got "${url}"`);
  return {
    command: 'claude-code',
    key: values.key,
    url,
    keyHeader: values['own-login'] ? (values['key-header'] ?? 'x-tollgate-key').toLowerCase() : undefined,
    format: values.settings ? 'settings' : 'env',
  };
}

/**
 * The lines to print: `export NAME='value'` for a shell, or a settings.json document.
 *
 * @example
 * claudeCodeSettings({ command: 'claude-code', key: 'sk-tg-1', url: 'http://gw:4000', format: 'env' });
 * // ["export ANTHROPIC_BASE_URL='http://gw:4000/anthropic'", "export ANTHROPIC_AUTH_TOKEN='sk-tg-1'"]
 */
export function claudeCodeSettings(cmd: ClaudeCodeCommand): string[] {
  const vars: Record<string, string> = { ANTHROPIC_BASE_URL: `${cmd.url}/anthropic` };
  if (cmd.keyHeader) vars.ANTHROPIC_CUSTOM_HEADERS = `${cmd.keyHeader}: ${cmd.key}`;
  else vars.ANTHROPIC_AUTH_TOKEN = cmd.key;
  if (cmd.format === 'settings') return [JSON.stringify({ env: vars }, null, 2)];
  return Object.entries(vars).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
}

/** Single-quoted for POSIX shells; a single quote inside becomes '\''. */
const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
