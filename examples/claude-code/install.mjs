#!/usr/bin/env node
// Installs the pinned Claude Code CLI into a cache folder on first use, outside the
// workspace's dependencies (it is a 370 MB native binary the quick start does not need).
// The conformance suite (examples/test/claude-code.test.ts) calls ensureClaudeCode(); run
// this file directly to install ahead of time. Needs the npm registry; fails loudly without it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The Claude Code release the suite is pinned to. */
export const CLAUDE_CODE_VERSION = '2.1.328';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** node_modules/.cache/claude-code/<version>: under the workspace, ignored by git, gone with node_modules. */
export function claudeCodeDir(version = CLAUDE_CODE_VERSION) {
  return join(ROOT, 'node_modules', '.cache', 'claude-code', version);
}

/**
 * The path of the `claude` binary of `version`, installing it first when the cache lacks it.
 * Rejects (with npm's output) when the install fails or the binary does not report `version`.
 */
export async function ensureClaudeCode(version = CLAUDE_CODE_VERSION) {
  const dir = claudeCodeDir(version);
  const bin = join(dir, 'node_modules', '.bin', 'claude');
  const marker = join(dir, '.installed');
  if (!existsSync(marker) || !existsSync(bin)) {
    // A half-finished earlier install is started over.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), '{ "private": true }\n');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    try {
      await run(npm, ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', `@anthropic-ai/claude-code@${version}`], {
        cwd: dir,
        timeout: 300_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      const e = /** @type {{ message: string, stderr?: string }} */ (err);
      throw new Error(`could not install @anthropic-ai/claude-code@${version} into ${dir} (the npm registry is needed): ${e.stderr || e.message}`);
    }
  }
  const { stdout } = await run(bin, ['--version'], { timeout: 60_000 });
  if (!stdout.startsWith(`${version} `)) throw new Error(`${bin} reports version "${stdout.trim()}", expected ${version}`);
  await writeFile(marker, `${version}\n`);
  return bin;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureClaudeCode(process.argv[2]).then(
    (bin) => console.log(bin),
    (err) => {
      console.error(err.message);
      process.exitCode = 1;
    },
  );
}
