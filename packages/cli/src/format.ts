import { GatewayError } from '@tollgate/core';

/**
 * `auth (900), metadata (800)`: how the CLI lists plugins.
 *
 * @example
 * formatPlugins([{ name: 'auth', priority: 900 }]); // 'auth (900)'
 */
export function formatPlugins(plugins: readonly { name: string; priority: number }[]): string {
  return plugins.length === 0 ? '(none)' : plugins.map((p) => `${p.name} (${p.priority})`).join(', ');
}

/**
 * `http://HOST:PORT` for a bound address, IPv6 in brackets.
 *
 * @example
 * formatAddress('::', 4000); // 'http://[::]:4000'
 */
export function formatAddress(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * One clean message for a failure, without a stack trace: config errors already name the
 * file, line, column and path; system errors keep their code (EADDRINUSE, ENOENT).
 *
 * @example
 * formatError(new GatewayError('TG_ERR_CONFIG', 'invalid config: …')); // 'tollgate: invalid config: …'
 */
export function formatError(err: unknown): string {
  if (err instanceof GatewayError) return `tollgate: ${err.message}`;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return `tollgate: ${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`;
  }
  return `tollgate: ${String(err)}`;
}
