import type { GatewayOptions } from '@tollgate/core';

export type ShutdownSignal = 'SIGTERM' | 'SIGINT';
/** SIGHUP reloads the upstream pool from the config file. */
export type CliSignal = ShutdownSignal | 'SIGHUP';

/** Where signals come from: `process`, or an EventEmitter in tests. */
export interface SignalSource {
  on<S extends CliSignal>(signal: S, listener: (signal: S) => void): unknown;
  off<S extends CliSignal>(signal: S, listener: (signal: S) => void): unknown;
}

/**
 * Everything the CLI touches outside itself, so commands run in-process in tests.
 *
 * @example
 * const io: CliIo = { env: process.env, out: console.log, err: console.error, signals: process, exitNow: process.exit };
 */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  /** Command output (help, version, check-config results). */
  out(line: string): void;
  /** Status, warnings and errors. */
  err(line: string): void;
  signals: SignalSource;
  /** Ends the process at once (a second shutdown signal). */
  exitNow(code: number): void;
  /** Where the gateway's JSON log lines go. Default: stdout. */
  logDestination?: GatewayOptions['logDestination'];
}
