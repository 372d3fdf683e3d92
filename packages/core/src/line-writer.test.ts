import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineWriter } from './line-writer.js';

const lines = (n: number) => Array.from({ length: n }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 300)}"}\n`);

describe('LineWriter', () => {
  it('writes every line, in order, to a file, in chunks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tg-lines-'));
    const file = join(dir, 'out.log');
    const handle = await open(file, 'w');
    const out = new LineWriter(handle.fd, 4096);
    const all = lines(5000);
    for (const l of all) out.write(l);
    await new Promise<void>((r) => out.flush(r));
    await handle.close();
    expect(await readFile(file, 'utf8')).toBe(all.join(''));
  });

  it('gets every byte through a slow pipe (partial writes, EAGAIN)', async () => {
    const cat = spawn('sh', ['-c', 'sleep 0.3; cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const received: Buffer[] = [];
    cat.stdout.on('data', (c: Buffer) => received.push(c));
    const fd = (cat.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    const out = new LineWriter(fd, 65536);
    const all = lines(20000);
    for (const l of all) out.write(l);
    await new Promise<void>((r) => out.flush(r));
    cat.stdin.end();
    await new Promise((r) => cat.once('close', r));
    expect(Buffer.concat(received).toString()).toBe(all.join(''));
  });

  it('calls flush callbacks even when nothing is pending', async () => {
    const out = new LineWriter(1);
    await new Promise<void>((r) => out.flush(r));
  });
});
