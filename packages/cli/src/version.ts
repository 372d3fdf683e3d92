import { readFileSync } from 'node:fs';

/**
 * The CLI's version, from its package.json (read when asked, not on import).
 *
 * @example
 * cliVersion(); // '0.1.0'
 */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
