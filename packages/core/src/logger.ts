import { pino, type DestinationStream, type Logger } from 'pino';

/** Paths pino censors wherever they appear in a log object. */
export const REDACT_PATHS = [
  'apiKey',
  'masterKey',
  'key',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-tollgate-key"]',
  '*.apiKey',
  '*.masterKey',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers["x-tollgate-key"]',
  'config.providers.anthropic.apiKey',
];

/**
 * The gateway's pino logger: JSON lines, secrets redacted by path, async writes to stdout
 * unless a destination is given.
 *
 * @example
 * const log = createLogger({ level: 'info' });
 */
export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
  return pino({ level: options.level, base: undefined, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
