import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { sql } from '@tollgate/storage';
import { createTestDatabase, type TestDatabase } from '@tollgate/storage/testing';
import { messageJson } from '@tollgate/testing';
import { MASTER_KEY, startCostHarness, until, type CostHarness } from './harness.js';

let db: TestDatabase;
let h: CostHarness;
let envDir: string;

afterEach(async () => {
  await h?.close();
  await db?.drop();
  await rm(envDir, { recursive: true, force: true });
});

it("spools rows into the storage plugin's dataDir while the database is down, not TOLLGATE_DATA_DIR", async () => {
  db = await createTestDatabase('sqlite');
  envDir = await mkdtemp(join(tmpdir(), 'tg-env-dir-'));
  // The storage plugin's own dataDir is the test database's folder; the env points elsewhere.
  h = await startCostHarness({ db, dataDir: envDir });
  const storageDir = (db.options as { dataDir: string }).dataDir;
  const outside = await db.open();
  await sql`alter table tollgate_spend_logs rename to tollgate_spend_logs_away`.execute(outside.db);
  h.mock.route('POST', '/v1/messages', { json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 10 } }) });

  const res = await fetch(`${h.baseURL}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);

  const spool = join(storageDir, 'spend-spool.jsonl');
  let text = '';
  await until(async () => (text = await readFile(spool, 'utf8').catch(() => '')) !== '', 3000);
  expect(JSON.parse(text.trim())).toMatchObject({ call_type: 'messages', model: 'claude-haiku-4-5', input_tokens: 10 });
  await expect(access(join(envDir, 'spend-spool.jsonl'))).rejects.toThrow();
  await sql`alter table tollgate_spend_logs_away rename to tollgate_spend_logs`.execute(outside.db);
  await outside.close();
});
