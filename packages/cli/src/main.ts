#!/usr/bin/env node
// The `tollgate` binary: wires the real process to the CLI. Logic lives in run.ts.
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  signals: process,
  exitNow: (c) => process.exit(c),
});
process.exit(code);
