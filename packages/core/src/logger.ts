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
  return pino({ level: options.level, base: undefined, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { err: serializeError } }, destination);
}

/**
 * pino's error serializer, minus the raw bytes node:http's parser attaches to a refused
 * request (`rawPacket`): those hold the request's headers, credentials included, and would
 * be logged as a byte array that no grep for the key finds. Causes are cleaned the same way.
 */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown> | undefined;
  if (out && typeof out === 'object') {
    delete out.rawPacket;
    if (out.cause && typeof out.cause === 'object') out.cause = serializeError(out.cause);
  }
  return out;
}
