import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Storage } from '@tollgate/storage';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from '@tollgate/storage/testing';
import { createMockUpstream, createTcpRelay, messageJson, messageStreamEvents, parseSseEvents, rawRequest, until, type MockUpstream, type TcpRelay } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, killAll } from './cli-process.js';
import { drive, figure, MASTER_KEY, readiness, startGateway, type Answers } from './fault-load.js';

/**
 * The gateway (the real CLI process) on PostgreSQL behind a TCP relay the test controls:
 * connections reset, refused, blackholed and slowed under load, a shutdown with the database
 * blackholed (with and without streams in flight), and a start while it is down. Every request
 * answered 200 must have its ledger row in the end; the figures (answered vs booked, per fault)
 * are printed.
 */
const GRACE_MS = 2000;
/** What the test allows past the grace for the process to exit and the test to hear of it. */
const EXIT_MS = 750;
describe('PostgreSQL faults under load', () => {
  let mock: MockUpstream;
  let relay: TcpRelay;
  let tdb: TestDatabase;
  let direct: Storage;
  let dir: string;
  const figures: string[] = [];

  beforeAll(async () => {
    ensureBuilt();
    mock = await createMockUpstream();
    mock.route('POST', '/v1/messages', { json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 5 } }) });
    relay = await createTcpRelay({ port: Number(new URL(TEST_POSTGRES_URL).port || 5432) });
    tdb = await createTestDatabase('postgres');
    direct = await tdb.open(); // creates the schema; reads the ledger without the relay
    dir = await mkdtemp(join(tmpdir(), 'tollgate-pg-faults-'));
  });
  const debugLines: string[][] = [];
  afterAll(async () => {
    if (process.env.FAULTS_DEBUG) for (const lines of debugLines) console.log(lines.filter((l) => !l.includes('"log":"access"')).join('\n').slice(-20000));
    await killAll();
    console.log(`PostgreSQL faults: requests answered 200 vs ledger rows booked\n${figures.join('\n')}`);
    await relay?.close();
    await mock?.close();
    await direct?.close();
    await tdb?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const booked = async (phase: string) =>
    Number((await sql<{ n: string }>`select count(*) as n from tollgate_spend_logs where end_user = ${phase}`.execute(direct.db)).rows[0]!.n);
  /** Waits until every request of `phase` answered 200 has its row, and records the figure. */
  let phaseStart = Date.now();
  const allBooked = async (phase: string, answers: Answers, extra?: string) => {
    await until(async () => (await booked(phase)) >= (answers.get(200) ?? 0), 20_000, 50);
    const n = await booked(phase);
    figures.push(figure(phase, answers, n, `${extra ? `${extra}, ` : ''}${Date.now() - phaseStart} ms`));
    phaseStart = Date.now();
    expect(n).toBe(answers.get(200));
  };
  const config = (o: { storage?: object; ledger?: object } = {}) => {
    const url = new URL(TEST_POSTGRES_URL);
    url.host = `${relay.host}:${relay.port}`;
    return {
      server: { shutdownGraceMs: GRACE_MS },
      plugins: [
        { use: '@tollgate/storage', config: { url: url.toString(), schema: tdb.options.schema, connectTimeoutMs: 1000, queryTimeoutMs: 2000, ...o.storage } },
        { use: '@tollgate/plugin-auth' },
        { use: '@tollgate/plugin-cost', config: { ledger: { flushIntervalMs: 20, writeTimeoutMs: 1000, maxRetryMs: 200, ...o.ledger }, batches: { settleEveryMs: 0 } } },
      ],
    };
  };
  const env = () => ({ ANTHROPIC_BASE_URL: mock.url, TOLLGATE_DATA_DIR: join(dir, 'data') });

  it('lives through resets, refusals, a blackhole and slowness, tells the truth at readiness within a second, books every answered request, and shuts down in its grace with the database blackholed', async () => {
    const { cli, url } = await startGateway(dir, config(), env());
    debugLines.push(cli.stdout, cli.stderr);
    let exited = false;
    void cli.exited.then(() => (exited = true));
    expect((await readiness(url)).status).toBe(200);

    // Idle pooled connections reset (a restart or failover): node-postgres emits 'error' on them.
    await allBooked('warm-up', await drive(url, 'warm-up', 50));
    relay.reset();
    await until(() => relay.connections === 0);
    await new Promise((r) => setTimeout(r, 200)); // the pool hears of the resets
    expect(exited).toBe(false);
    await allBooked('reset (idle)', await drive(url, 'reset (idle)', 100));

    // Resets while writes are running.
    const resets = async () => {
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 100));
        relay.reset();
      }
    };
    await allBooked('reset (under load)', await drive(url, 'reset (under load)', 200, { during: resets }));
    expect(exited).toBe(false);

    // Refused: the database is down. Requests are served; rows spool to disk; readiness says so.
    relay.setMode('refuse');
    relay.reset();
    const refused = await drive(url, 'refuse', 150);
    const downReady = await readiness(url);
    expect(downReady.status).toBe(503);
    expect(downReady.body.checks.database).toMatch(/^unavailable: /);
    relay.setMode('pass');
    await allBooked('refuse', refused, `readiness ${downReady.status} in ${downReady.ms} ms`);

    // Blackholed: no byte moves. Writes are abandoned to the spool after writeTimeoutMs.
    relay.setMode('blackhole');
    let slowest = 0;
    let stalledReady: Awaited<ReturnType<typeof readiness>> | undefined;
    const probe = async () => {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const r = await readiness(url);
        slowest = Math.max(slowest, r.ms);
        stalledReady = r;
      }
    };
    const blackholed = await drive(url, 'blackhole', 200, { during: probe });
    await until(async () => (await rawRequest(`${url}/spend/queue`, { headers: { 'x-api-key': MASTER_KEY } }).then((r) => JSON.parse(r.body.toString()).queued)) === 0, 10_000, 50);
    expect(stalledReady!.status).toBe(503);
    expect(stalledReady!.body.checks.database).toMatch(/^unavailable: /);
    // 500 ms per check inside the gateway; the margin is for a loaded machine.
    expect(slowest).toBeLessThan(2000);
    relay.setMode('pass');
    await allBooked('blackhole', blackholed, `slowest readiness ${slowest} ms`);

    // Slow: every chunk 30 ms late.
    relay.setMode('slow', { delayMs: 30 });
    const slow = await drive(url, 'slow', 100);
    relay.setMode('pass');
    await allBooked('slow', slow);
    expect(exited).toBe(false);

    // SIGTERM with the database blackholed: rows go to the spool, the process exits within its grace.
    relay.setMode('blackhole');
    const lastRows = await drive(url, 'shutdown (blackholed)', 100);
    const stopping = Date.now();
    cli.child.kill('SIGTERM');
    const { code } = await cli.exited;
    const stopMs = Date.now() - stopping;
    expect(code).toBe(0);
    // Nothing in flight: the plugins close at once, by the end of the grace: a stalled write
    // is abandoned by then (its rows spooled), and the stalled connections are left.
    expect(stopMs).toBeLessThan(GRACE_MS + EXIT_MS);

    // Start with the database down: health is served, readiness says why, metered requests get a 503.
    relay.reset();
    relay.setMode('refuse');
    const second = await startGateway(dir, config(), env());
    debugLines.push(second.cli.stdout, second.cli.stderr);
    const live = await rawRequest(`${second.url}/health/liveliness`);
    expect(live.status).toBe(200);
    const starting = await readiness(second.url);
    expect(starting.status).toBe(503);
    expect(starting.body.checks.database).toMatch(/^unavailable: start-up \(.+\) waits for the database/);
    expect(starting.body.checks.ledger).toBe('unavailable: the spend ledger is not loaded yet: start-up waits for the database');
    const early = await rawRequest(`${second.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY },
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }], metadata: { user_id: 'start-down' } }),
    });
    expect([early.status, early.headers['retry-after'], JSON.parse(early.body.toString()).error]).toEqual([
      503,
      '5',
      { type: 'api_error', message: 'the gateway cannot record spend yet: its database has been unavailable since start; try again shortly' },
    ]);
    // The database is back: start-up finishes in the background, and the spool of the first run is replayed.
    relay.setMode('pass');
    await until(async () => (await readiness(second.url)).status === 200, 45_000, 100);
    await allBooked('shutdown (blackholed)', lastRows, `exit code ${code} in ${stopMs} ms (grace ${GRACE_MS} ms), rows replayed by the next start`);
    const afterStart = await drive(second.url, 'start (database down)', 50);
    await allBooked('start (database down)', afterStart, `1 request refused with 503 while down`);
    expect(await booked('start-down')).toBe(0);
    second.cli.child.kill('SIGTERM');
    expect((await second.cli.exited).code).toBe(0);
  }, 120_000);

  it('shuts down within its grace with streams in flight and the database blackholed: the streams get an SSE error event, and every answered request and cut stream is booked once by the next start', async () => {
    // The database's own limits far off (a ledger write 10 s, a query 30 s: the defaults), so
    // only the shutdown's deadline can end the write the blackhole stalls.
    const stalled = config({ storage: { queryTimeoutMs: 30_000 }, ledger: { writeTimeoutMs: 10_000 } });
    const env2 = { ...env(), TOLLGATE_DATA_DIR: join(dir, 'data-shutdown') };
    relay.setMode('pass');
    const { cli, url } = await startGateway(dir, stalled, env2);
    debugLines.push(cli.stdout, cli.stderr);
    await allBooked('shutdown: warm-up', await drive(url, 'shutdown: warm-up', 20));

    relay.setMode('blackhole');
    const answered = await drive(url, 'shutdown: answered', 100);
    // The first event (message_start: the input-side usage) at once, the rest a minute later:
    // the cut falls in between.
    const events = messageStreamEvents({ model: 'claude-haiku-4-5', usage: { input_tokens: 40, output_tokens: 9 }, text: ['one', 'two', 'three'] });
    const STREAMS = 8;
    const firstEvents: Promise<void>[] = [];
    const streams = Array.from({ length: STREAMS }, () => {
      mock.once('POST', '/v1/messages', { sse: events, eventDelayMs: 60_000 });
      let first!: () => void;
      firstEvents.push(new Promise<void>((r) => (first = r)));
      return rawRequest(`${url}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY },
        body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'Hi' }], metadata: { user_id: 'shutdown: cut streams' } }),
        onChunk: (_c, i) => i === 0 && first(),
      });
    });
    await Promise.all(firstEvents);
    const stopping = Date.now();
    cli.child.kill('SIGTERM');
    const { code } = await cli.exited;
    const stopMs = Date.now() - stopping;
    expect(code).toBe(0);
    expect(stopMs).toBeLessThan(GRACE_MS + EXIT_MS);
    for (const res of await Promise.all(streams)) {
      expect([res.status, res.error]).toEqual([200, undefined]);
      const got = parseSseEvents(res.body.toString());
      expect(got.map((e) => e.event)).toEqual(['message_start', 'error']);
      expect(got[1]!.data).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'the gateway shut down before this response was complete' } });
    }

    // The database is back: the next start replays what the first spooled.
    relay.reset();
    relay.setMode('pass');
    const second = await startGateway(dir, stalled, env2);
    debugLines.push(second.cli.stdout, second.cli.stderr);
    await allBooked('shutdown: answered', answered, `exit code ${code} in ${stopMs} ms (grace ${GRACE_MS} ms), rows replayed by the next start`);
    await allBooked('shutdown: cut streams', new Map([[200, STREAMS]]), 'each ended by an SSE error event, billed from its partial usage');
    const cutRows = await sql<{ input_tokens: number; output_tokens: number; aborted: number; spend: string }>`
      select input_tokens, output_tokens, aborted, spend from tollgate_spend_logs where end_user = 'shutdown: cut streams'`.execute(direct.db);
    // claude-haiku-4-5: 40 input tokens at $1/MTok and 1 output token at $5/MTok, in pico-dollars.
    expect(cutRows.rows.map((r) => ({ ...r, spend: String(r.spend) }))).toEqual(Array(STREAMS).fill({ input_tokens: 40, output_tokens: 1, aborted: 1, spend: '45000000' }));
    second.cli.child.kill('SIGTERM');
    expect((await second.cli.exited).code).toBe(0);
  }, 120_000);
});
