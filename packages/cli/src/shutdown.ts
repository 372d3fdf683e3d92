import { closeReserveMs, type Gateway } from '@tollgate/core';
import { formatError } from './format.js';
import type { CliIo, ShutdownSignal } from './io.js';

const SIGNALS: readonly ShutdownSignal[] = ['SIGTERM', 'SIGINT'];

/**
 * Resolves with the exit code once the gateway has shut down. The first SIGTERM/SIGINT
 * starts `gw.close`, which is over within `graceMs` (stop accepting, let in-flight requests
 * and streams run until `closeReserveMs(graceMs)` before the end, cut the rest, close the
 * plugins by the end); a second one exits at once with code 1.
 *
 * @example
 * const code = await waitForShutdown(gw, { graceMs: 30000, io });
 */
export function waitForShutdown(gw: Pick<Gateway, 'close'>, options: { graceMs: number; io: CliIo }): Promise<number> {
  const { graceMs, io } = options;
  return new Promise((resolve) => {
    let closing = false;
    const onSignal = (signal: ShutdownSignal): void => {
      if (closing) {
        io.err(`tollgate: ${signal} again, exiting now`);
        io.exitNow(1);
        return;
      }
      closing = true;
      const closed = gw.close({ graceMs });
      io.err(`tollgate: ${signal} received, no longer accepting connections; finishing in-flight requests (up to ${graceMs - closeReserveMs(graceMs)} ms), stopping within ${graceMs} ms. Send it again to exit now.`);
      closed.then(
        () => {
          io.err('tollgate: stopped');
          resolve(0);
        },
        (err: unknown) => {
          io.err(formatError(err));
          resolve(1);
        },
      );
    };
    for (const signal of SIGNALS) io.signals.on(signal, onSignal);
  });
}
