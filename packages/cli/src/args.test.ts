import { describe, expect, it } from 'vitest';
import { parseCliArgs, UsageError } from './args.js';

function usageError(argv: string[]): string {
  try {
    parseCliArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

describe('parseCliArgs', () => {
  it('defaults to start with nothing set', () => {
    expect(parseCliArgs([])).toEqual({ command: 'start' });
    expect(parseCliArgs(['start'])).toEqual({ command: 'start' });
  });

  it('reads every start option, long and short', () => {
    expect(parseCliArgs(['start', '--config', 'gw.yaml', '--port', '0', '--host', '::1', '--grace-ms', '2500'])).toEqual({
      command: 'start',
      config: 'gw.yaml',
      port: 0,
      host: '::1',
      graceMs: 2500,
    });
    expect(parseCliArgs(['-c', 'a.yaml', '-p', '8080'])).toEqual({ command: 'start', config: 'a.yaml', port: 8080 });
    expect(parseCliArgs(['--port=65535', '--config=b.yaml'])).toEqual({ command: 'start', config: 'b.yaml', port: 65535 });
  });

  it('reads check-config with the file as an argument or --config', () => {
    expect(parseCliArgs(['check-config', 'gw.yaml'])).toEqual({ command: 'check-config', file: 'gw.yaml' });
    expect(parseCliArgs(['check-config', '--config', 'gw.yaml'])).toEqual({ command: 'check-config', file: 'gw.yaml' });
    expect(parseCliArgs(['check-config'])).toEqual({ command: 'check-config' });
  });

  it('answers --help and --version before anything else', () => {
    expect(parseCliArgs(['--help'])).toEqual({ command: 'help' });
    expect(parseCliArgs(['check-config', '-h'])).toEqual({ command: 'help', topic: 'check-config' });
    expect(parseCliArgs(['start', '--help'])).toEqual({ command: 'help', topic: 'start' });
    expect(parseCliArgs(['help', 'prices'])).toEqual({ command: 'help', topic: 'prices' });
    expect(parseCliArgs(['help'])).toEqual({ command: 'help' });
    expect(() => parseCliArgs(['help', 'nope'])).toThrow('unknown command "nope"');
    expect(parseCliArgs(['--version'])).toEqual({ command: 'version' });
    expect(parseCliArgs(['-v', '--port', '1'])).toEqual({ command: 'version' });
  });

  it('rejects malformed numbers', () => {
    expect(usageError(['--port', 'abc'])).toBe('--port must be an integer from 0 to 65535, got "abc"');
    expect(usageError(['--port', '65536'])).toBe('--port must be an integer from 0 to 65535, got "65536"');
    expect(usageError(['--port=-1'])).toBe('--port must be an integer from 0 to 65535, got "-1"');
    expect(usageError(['--port', '80.5'])).toBe('--port must be an integer from 0 to 65535, got "80.5"');
    expect(usageError(['--port', ''])).toBe('--port must be an integer from 0 to 65535, got ""');
    expect(usageError(['--grace-ms', '1e3'])).toBe(`--grace-ms must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got "1e3"`);
  });

  it('rejects unknown commands, options and extra arguments', () => {
    expect(usageError(['serve'])).toBe('unknown command "serve"');
    expect(usageError(['start', 'extra'])).toBe('unexpected argument "extra"');
    expect(usageError(['check-config', 'a.yaml', 'b.yaml'])).toBe('unexpected argument "b.yaml"');
    expect(usageError(['check-config', 'a.yaml', '--config', 'b.yaml'])).toBe('give the config file either as an argument or with --config, not both');
    expect(usageError(['check-config', 'a.yaml', '--port', '1'])).toBe('--port does not apply to check-config');
    expect(usageError(['--verbose'])).toMatch(/^Unknown option '--verbose'/);
    expect(usageError(['--port'])).toMatch(/^Option '-p, --port <value>' argument missing/);
  });
});
