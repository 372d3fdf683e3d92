#!/usr/bin/env node
// The `tollgate` binary: wires the real process to the CLI. Logic lives in run.ts.
import { setFlagsFromString } from 'node:v8';
import { runCli } from './run.js';

// V8's allocation-site pretenuring misjudges a gateway's traffic: once a few per-request
// objects outlive a scavenge (spend rows waiting for their batch), V8 starts allocating
// their sites in the old generation, and everything those objects point at survives every
// scavenge after that. Measured at ~10k req/s with the cost plugin: 1.1 MB promoted per
// scavenge and 4.4 ms scavenges with it, 36 KB and 1.3 ms without (bench/README.md).
// TOLLGATE_V8_PRETENURING=1 keeps V8's default.
if (process.env.TOLLGATE_V8_PRETENURING !== '1') setFlagsFromString('--no-allocation-site-pretenuring');

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  signals: process,
  exitNow: (c) => process.exit(c),
});
process.exit(code);
