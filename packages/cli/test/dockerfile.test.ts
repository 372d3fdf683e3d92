import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * No container engine runs here, so the Dockerfile is checked against the workspace it
 * builds: stages, the packages it packs, the Node it runs, what it leaves out of the build
 * context. Its install steps are the ones packed-install.test.ts performs for real.
 */
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
/** Instructions, with continuation lines joined and comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op.toUpperCase(), args: rest.join(' ') };
  });

const KNOWN = new Set(['FROM', 'RUN', 'WORKDIR', 'COPY', 'ENV', 'USER', 'VOLUME', 'EXPOSE', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD', 'ARG', 'LABEL']);

describe('the Dockerfile', () => {
  it('has only known instructions, and COPY --from names an earlier stage', () => {
    expect(instructions.filter((i) => !KNOWN.has(i.op))).toEqual([]);
    const stages: string[] = [];
    for (const i of instructions) {
      if (i.op === 'FROM') stages.push(/\bAS\s+(\S+)/i.exec(i.args)?.[1] ?? '');
      const from = /--from=(\S+)/.exec(i.op === 'COPY' ? i.args : '')?.[1];
      if (from) expect(stages).toContain(from);
    }
    expect(stages).toEqual(['build', '']);
  });

  it('packs every published package of the workspace, and only those', () => {
    const published = readdirSync(join(ROOT, 'packages')).filter((name) => {
      const pkg = JSON.parse(readFileSync(join(ROOT, 'packages', name, 'package.json'), 'utf8')) as { name: string };
      return pkg.name !== '@tollgate/testing';
    });
    const packed = /for p in ([^;]+); do/.exec(dockerfile)?.[1].trim().split(/\s+/);
    expect(packed?.sort()).toEqual(published.sort());
  });

  it('runs the Node major the packages need, with the pnpm the workspace pins, as a non-root user', () => {
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string; engines: { node: string } };
    const images = instructions.filter((i) => i.op === 'FROM').map((i) => /^node:(\d+)/.exec(i.args)?.[1]);
    expect(images).toEqual(['20', '20']);
    expect(root.engines.node).toBe('>=20.12');
    const pnpm = root.packageManager.replace('pnpm@', '');
    expect([...new Set([...dockerfile.matchAll(/pnpm@([\d.]+)/g)].map((m) => m[1]))]).toEqual([pnpm]);
    expect(instructions.filter((i) => i.op === 'USER').map((i) => i.args)).toEqual(['node']);
    expect(instructions.find((i) => i.op === 'ENTRYPOINT')?.args).toBe('["/app/node_modules/.bin/tollgate"]');
  });

  it('keeps node_modules, builds and local data out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['**/node_modules', '**/dist', '.tollgate', '.git']) expect(ignored).toContain(entry);
  });
});
