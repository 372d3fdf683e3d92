import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The built binary, run the way users run it. */
export const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/**
 * Builds the CLI (and what it references) when dist/ is missing, e.g. a bare `vitest run`
 * without the root `tsc -b`. The stale build info goes first: with it, `tsc -b` would think
 * the deleted output is up to date.
 */
export function ensureBuilt(): void {
  if (existsSync(MAIN)) return;
  rmSync(join(ROOT, 'packages/cli/tsconfig.tsbuildinfo'), { force: true });
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'packages/cli'], { cwd: ROOT, stdio: 'inherit' });
}

export interface CliProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first stderr line matching `pattern` (already seen or coming); rejects on exit or after `timeoutMs`. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /**
   * The same for stdout. A line the child wrote before its stderr said something may not have
   * been read from the stdout pipe yet: wait on it, never read `stdout` right after a stderr line.
   */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/**
 * Spawns `node dist/main.js ...args` with exactly the given environment (plus PATH), so the
 * developer's own TOLLGATE_* / ANTHROPIC_* variables never leak in.
 */
export function spawnCli(args: string[], env: Record<string, string> = {}, cwd = ROOT): CliProcess {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const stdout = lines(child.stdout!);
  const stderr = lines(child.stderr!);
  let closed = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      closed = true;
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    stdout: stdout.lines,
    stderr: stderr.lines,
    exited,
    waitForStderr: (pattern, timeoutMs) => waitForLine(child, stderr, 'stderr', pattern, timeoutMs, () => closed),
    waitForStdout: (pattern, timeoutMs) => waitForLine(child, stdout, 'stdout', pattern, timeoutMs, () => closed),
  };
}

type Lines = ReturnType<typeof lines>;

function waitForLine(child: ChildProcess, stream: Lines, name: string, pattern: RegExp, timeoutMs = 10_000, isClosed: () => boolean): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      for (const line of stream.lines) {
        const m = line.match(pattern);
        if (m) {
          done();
          resolve(m);
          return true;
        }
      }
      return false;
    };
    const onExit = () => {
      if (check()) return;
      done();
      reject(new Error(`exited before printing ${pattern} on ${name}; ${name}:\n${stream.lines.join('\n')}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ${pattern} on ${name} within ${timeoutMs} ms; ${name}:\n${stream.lines.join('\n')}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      stream.off(check);
      child.off('close', onExit);
    };
    if (check()) return;
    if (isClosed()) return onExit();
    stream.on(check);
    child.once('close', onExit);
  });
}

/** Kills whatever a failed test left running. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map((child) => {
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGKILL');
      return closed;
    }),
  );
}

function lines(stream: NodeJS.ReadableStream) {
  const out: string[] = [];
  const listeners = new Set<() => void>();
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    out.push(...parts);
    for (const l of [...listeners]) l();
  });
  stream.on('end', () => {
    if (partial) out.push(partial);
    partial = '';
    for (const l of [...listeners]) l();
  });
  return { lines: out, on: (l: () => void) => void listeners.add(l), off: (l: () => void) => void listeners.delete(l) };
}
