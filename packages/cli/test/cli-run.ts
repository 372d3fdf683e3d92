import { EventEmitter } from 'node:events';
import type { CliIo, SignalSource } from '../src/io.js';
import { runCli } from '../src/run.js';

export interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

/** Runs `tollgate <args>` in this process with `env`, and returns its exit code and printed lines. */
export async function runCliCaptured(args: string[], env: Record<string, string>): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    env,
    out: (l) => void out.push(l),
    err: (l) => void err.push(l),
    signals: new EventEmitter() as SignalSource,
    exitNow: (code) => {
      throw new Error(`unexpected exitNow(${code})`);
    },
  };
  return { code: await runCli(args, io), out, err };
}
