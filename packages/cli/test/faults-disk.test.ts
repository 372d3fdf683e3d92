import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMockUpstream, messageJson, rawRequest, until, type MockUpstream } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, killAll } from './cli-process.js';
import { drive, figure, MASTER_KEY, readiness, startGateway, type Answers } from './fault-load.js';

/** A 4 MiB tmpfs of its own (root only; CI runs as root): the embedded database's disk, to fill up. */
function mountSmallDisk(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tollgate-faults', dir], { stdio: 'pipe' });
    return true;
  } catch (err) {
    console.warn(`faults-disk: cannot mount a tmpfs (${(err as Error).message.split('\n')[0]}); the full-disk suite is skipped`);
    return false;
  }
}

/** Fills the disk under `dir` with a file, up to the last byte; returns its path. */
async function fillDisk(dir: string): Promise<string> {
  const path = join(dir, 'filler');
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
  return path;
}

/**
 * The embedded default (SQLite, spool in the same folder) on a disk that fills up: the process
 * lives, readiness says why, rows wait in memory up to ledger.maxQueuedRows, and past it
 * requests are refused with a 503 by default, or served and their rows counted as lost with
 * whenFull 'serve'. Once the disk has room, every row still held is written.
 */
describe('a full disk under the embedded database', () => {
  let mock: MockUpstream;
  let dir: string;
  let disk: string;
  let mounted = false;
  const figures: string[] = [];

  beforeAll(async () => {
    ensureBuilt();
    mock = await createMockUpstream();
    mock.route('POST', '/v1/messages', { json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 5 } }) });
    dir = await mkdtemp(join(tmpdir(), 'tollgate-disk-faults-'));
    disk = join(dir, 'disk');
    await mkdir(disk);
    mounted = mountSmallDisk(disk);
  });
  afterAll(async () => {
    await killAll();
    if (figures.length) console.log(`Full disk: requests answered 200 vs ledger rows booked\n${figures.join('\n')}`);
    if (mounted) execFileSync('umount', ['-l', disk]);
    await mock?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const config = (whenFull: 'refuse' | 'serve') => ({
    server: { shutdownGraceMs: 1000 },
    plugins: [
      { use: '@tollgate/storage' },
      { use: '@tollgate/plugin-auth' },
      { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 20, maxRetryMs: 100, maxQueuedRows: 60, whenFull }, batches: { settleEveryMs: 0 } } },
    ],
  });
  const admin = async (url: string, path: string) => JSON.parse((await rawRequest(`${url}${path}`, { headers: { 'x-api-key': MASTER_KEY } })).body.toString());
  /** Every row in memory or in the spool file is in the database (a row spooled once the disk had room waits for the replay). */
  const written = async (url: string) => {
    const q = await admin(url, '/spend/queue');
    return q.queued === 0 && q.spooled === 0;
  };
  const booked = async (url: string, phase: string) => (await admin(url, `/spend/logs?end_user=${encodeURIComponent(phase)}&page=1&page_size=1`)).total as number;
  /** Load in rounds until `enough` says the full disk shows. */
  const driveUntil = async (url: string, phase: string, enough: (a: Answers) => Promise<boolean>) => {
    const answers: Answers = new Map();
    for (let round = 0; round < 60 && !(await enough(answers)); round++) {
      for (const [status, n] of await drive(url, phase, 40, { concurrency: 4 })) answers.set(status, (answers.get(status) ?? 0) + n);
    }
    return answers;
  };

  it('refuses metered requests with a 503 past maxQueuedRows, lives, says why, and books every answered request once the disk has room', async (ctx) => {
    if (!mounted) ctx.skip();
    const { cli, url } = await startGateway(dir, config('refuse'), { ANTHROPIC_BASE_URL: mock.url, TOLLGATE_DATA_DIR: join(disk, 'refuse') });
    let exited = false;
    void cli.exited.then(() => (exited = true));
    const warm = await drive(url, 'warm-up', 20);
    await until(async () => (await booked(url, 'warm-up')) === 20, 10_000);

    const filler = await fillDisk(disk);
    const full = await driveUntil(url, 'disk full', async (a) => (a.get(503) ?? 0) > 0);
    expect(full.get(503)).toBeGreaterThan(0);
    expect(exited).toBe(false);
    const refusal = await rawRequest(`${url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }], metadata: { user_id: 'refused' } }),
    });
    expect([refusal.status, refusal.headers['retry-after'], JSON.parse(refusal.body.toString())]).toEqual([
      503,
      '5',
      { type: 'error', error: { type: 'api_error', message: 'the gateway cannot record spend right now: its spend ledger can take no more rows; try again shortly' }, request_id: expect.any(String) },
    ]);
    const ready = await readiness(url);
    expect(ready.status).toBe(503);
    expect(ready.body.checks.ledger).toMatch(/^unavailable: spend rows can be neither written to the database nor spooled to disk \(.*(ENOSPC|full).*\): \d+ spend rows wait in memory \(at most 60, ledger.maxQueuedRows\); requests are refused$/);
    const held = (await admin(url, '/spend/queue')).queued as number;
    expect(held).toBeGreaterThanOrEqual(60);

    await rm(filler);
    await until(async () => (await readiness(url)).status === 200, 15_000, 100);
    await until(() => written(url), 15_000);
    const n = await booked(url, 'disk full');
    figures.push(figure('disk full (whenFull refuse)', full, n, `${held} rows held in memory at the bound`));
    expect(n).toBe(full.get(200));
    expect(await booked(url, 'refused')).toBe(0);
    figures.unshift(figure('warm-up', warm, await booked(url, 'warm-up')));
    // Requests are taken again.
    expect((await drive(url, 'after', 5)).get(200)).toBe(5);
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 120_000);

  it("with whenFull 'serve', keeps serving past the bound and counts the rows it could not keep as lost", async (ctx) => {
    if (!mounted) ctx.skip();
    const { cli, url } = await startGateway(dir, config('serve'), { ANTHROPIC_BASE_URL: mock.url, TOLLGATE_DATA_DIR: join(disk, 'serve') });
    await drive(url, 'warm-up', 5);
    const filler = await fillDisk(disk);
    const served = await driveUntil(url, 'disk full (serve)', async () => (await admin(url, '/spend/queue')).lost > 20);
    expect([...served.keys()]).toEqual([200]);
    const ready = await readiness(url);
    expect(ready.body.checks.ledger).toMatch(/; new rows are dropped$/);
    await rm(filler);
    await until(async () => (await written(url)) && (await readiness(url)).status === 200, 15_000, 100);
    const { lost } = await admin(url, '/spend/queue');
    const n = await booked(url, 'disk full (serve)');
    figures.push(figure('disk full (whenFull serve)', served, n, `lost (counted): ${lost}`));
    expect(n + lost).toBe(served.get(200));
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  }, 120_000);
});
