import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { rawRequest } from '@tollgate/testing';
import { describe, expect, it } from 'vitest';
import { startHarness } from './harness.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MASTER_KEY = 'sk-master-readiness-93c1';

async function readiness(url: string): Promise<{ status: number; body: unknown }> {
  const res = await rawRequest(`${url}/health/readiness`);
  return { status: res.status, body: JSON.parse(res.body.toString()) };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('readiness with shared limits', () => {
  it('reports Redis when it is configured', async () => {
    const keyPrefix = `tollgate-test-${randomBytes(6).toString('hex')}:`;
    const h = await startHarness({ authConfig: { masterKey: MASTER_KEY, sharedLimits: { redisUrl: REDIS_URL, keyPrefix } } });
    try {
      expect(await readiness(h.url)).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', redis: 'ok' } } });
    } finally {
      await h.close();
    }
  });

  it('reports an unreachable Redis as degraded and stays ready (each replica then counts its own limits)', async () => {
    const keyPrefix = `tollgate-test-${randomBytes(6).toString('hex')}:`;
    const h = await startHarness({ authConfig: { masterKey: MASTER_KEY, sharedLimits: { redisUrl: `redis://127.0.0.1:${await closedPort()}`, keyPrefix } } });
    try {
      expect(await readiness(h.url)).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', redis: 'degraded' } } });
    } finally {
      await h.close();
    }
  });

  it('has no Redis check without Redis', async () => {
    const h = await startHarness({ authConfig: { masterKey: MASTER_KEY } });
    try {
      expect(await readiness(h.url)).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok' } } });
    } finally {
      await h.close();
    }
  });
});
