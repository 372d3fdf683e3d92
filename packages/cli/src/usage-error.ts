/**
 * A command line that cannot be run; the CLI prints the message and exits 2.
 *
 * @example
 * throw new UsageError('unknown command "serve"');
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
