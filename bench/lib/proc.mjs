// Process plumbing: spawning pinned children, reading RSS/CPU from /proc, ports, waiting.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Pins every thread of `pid` to `cpu` (best effort; returns false when taskset is missing). */
export function pinSelf(cpu) {
  try {
    execFileSync('taskset', ['-a', '-cp', String(cpu), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Spawns `node script args` pinned to `cpu` with an IPC channel. */
export function spawnNodePinned(cpu, script, args = [], { env = process.env, stdio = 'inherit', nodeArgs = [] } = {}) {
  const child = spawn('taskset', ['-c', String(cpu), process.execPath, ...nodeArgs, script, ...args], {
    stdio: ['ignore', stdio, stdio, 'ipc'],
    env,
  });
  return child;
}

/** Resolves with the first IPC message matching `pred`, rejects on exit or timeout. */
export function waitMessage(child, pred, timeoutMs = 30_000, what = 'message') {
  return new Promise((resolve, reject) => {
    const onMsg = (m) => {
      if (!pred(m)) return;
      cleanup();
      resolve(m);
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`child exited (${code ?? signal}) while waiting for ${what}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
    };
    child.on('message', onMsg);
    child.on('exit', onExit);
  });
}

/** Sends a message and waits for the reply of type `replyType` (or an `error` message). */
export async function request(child, msg, replyType, timeoutMs) {
  const p = waitMessage(child, (m) => m?.type === replyType || m?.type === 'error', timeoutMs, replyType);
  child.send(msg);
  const reply = await p;
  if (reply.type === 'error') throw new Error(`${msg.type}: ${reply.message}`);
  return reply;
}

export function stopChild(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    if (child.connected) child.disconnect();
    child.kill('SIGTERM');
  });
}

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once a TCP connection to host:port succeeds. */
export async function waitPort(port, host = '127.0.0.1', timeoutMs = 30_000, isAlive = () => true) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`process exited before listening on ${host}:${port}`);
    const ok = await new Promise((resolve) => {
      const sock = connect(port, host);
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}

/** Resident set size of `pid` in MiB (VmRSS), or undefined if the process is gone. */
export function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) used so far by `pid`. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Per-core jiffy counters from /proc/stat: { cpu0: { busy, total }, ... }. */
export function coreTimes() {
  const out = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = v[3] + (v[4] || 0);
    out[m[1]] = { busy: total - idle, total };
  }
  return out;
}

/** Busy CPU-seconds summed over all cores between two coreTimes() snapshots. */
export function busySeconds(a, b) {
  let busy = 0;
  for (const k of Object.keys(b)) if (a[k]) busy += b[k].busy - a[k].busy;
  return busy / CLK_TCK;
}

/** Busy % per core between two coreTimes() snapshots. */
export function coreBusy(a, b) {
  const out = {};
  for (const k of Object.keys(b)) {
    if (!a[k]) continue;
    const dt = b[k].total - a[k].total;
    out[k] = dt > 0 ? (100 * (b[k].busy - a[k].busy)) / dt : 0;
  }
  return out;
}

/** Samples RSS of `pid` every `everyMs` until stop() is called; stop() returns { peak, samples }. */
export function rssSampler(pid, everyMs = 100) {
  let peak = rssMiB(pid) ?? 0;
  let samples = 1;
  const timer = setInterval(() => {
    const r = rssMiB(pid);
    if (r !== undefined) {
      samples++;
      if (r > peak) peak = r;
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const r = rssMiB(pid);
      if (r !== undefined && r > peak) peak = r;
      return { peak, samples };
    },
  };
}

/**
 * Measures a phase: wall time, per-core busy %, CPU of the given pids, and the CPU used by
 * everything else on the machine ("foreign", e.g. someone's build — a noise indicator; it also
 * holds kernel softirq time of loopback traffic, so it is never quite zero under load).
 */
export function phaseMeter(pids) {
  const t0 = performance.now();
  const cores0 = coreTimes();
  const cpu0 = Object.fromEntries(pids.filter(Boolean).map((p) => [p, cpuSeconds(p) ?? 0]));
  return {
    stop() {
      const elapsedS = (performance.now() - t0) / 1000;
      const cores1 = coreTimes();
      const cpu = {};
      let own = 0;
      for (const p of Object.keys(cpu0)) {
        cpu[p] = (cpuSeconds(Number(p)) ?? cpu0[p]) - cpu0[p];
        own += cpu[p];
      }
      const busy = busySeconds(cores0, cores1);
      const pct = (x) => Math.round((100 * x) / elapsedS);
      return {
        elapsedS,
        cpuSeconds: cpu,
        coreBusyPct: Object.fromEntries(Object.entries(coreBusy(cores0, cores1)).map(([k, v]) => [k, Math.round(v)])),
        foreignCpuPct: Math.max(0, pct(busy - own)),
      };
    },
  };
}
