// Runs one target command pinned to a core and makes sure it never outlives the benchmark.
// Started by run.mjs with an IPC channel and a JSON spec in argv[2]:
//   { cmd: string (sh syntax), cpu: '0', cwd, env, logFile, maxMs }
// Messages to the parent: { type: 'spawned', pid } — the pid is the target's own (sh and
// taskset exec into it) — then { type: 'listening', url } when a line mentions
// `listening on http://…`, and { type: 'exit', code, signal, stderrTail } if it dies.
// When the parent disconnects (finished, crashed or killed) or maxMs passes, the target gets
// SIGTERM, then SIGKILL after 3 s, and the supervisor exits.
import { spawn } from 'node:child_process';
import { openSync, closeSync, writeSync } from 'node:fs';

const spec = JSON.parse(process.argv[2]);
const logFd = spec.logFile ? openSync(spec.logFile, 'a') : 'ignore';
const child = spawn('sh', ['-c', `exec taskset -c ${spec.cpu} ${spec.cmd}`], {
  cwd: spec.cwd,
  env: spec.env,
  stdio: ['ignore', logFd, 'pipe'],
});
if (typeof logFd === 'number') closeSync(logFd);
const send = (m) => process.connected && process.send(m);
send({ type: 'spawned', pid: child.pid });

let tail = '';
let announced = false;
const errFd = spec.logFile ? openSync(spec.logFile, 'a') : undefined;
child.stderr.setEncoding('utf8');
child.stderr.on('data', (s) => {
  if (errFd !== undefined) writeSync(errFd, s);
  tail = (tail + s).slice(-4000);
  if (!announced) {
    const m = /listening on (https?:\/\/[^\s"')]+)/.exec(tail);
    if (m) {
      announced = true;
      send({ type: 'listening', url: m[1] });
    }
  }
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  } else process.exit(0);
}
child.on('exit', (code, signal) => {
  send({ type: 'exit', code, signal, stderrTail: tail });
  setTimeout(() => process.exit(0), 50);
});
process.on('disconnect', stop);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, spec.maxMs ?? 1_800_000).unref();
