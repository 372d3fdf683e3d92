import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { checkReadiness, READINESS_CHECK_MS, type ReadinessCheck } from './readiness.js';

const lines: string[] = [];
const log = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } });

describe('readiness', () => {
  it('reports each check as ok, unavailable or unavailable with its reason; 503 unless all are ok', async () => {
    const checks = new Map<string, ReadinessCheck>([
      ['plain', () => true],
      ['said', async () => ({ ok: true })],
      ['down', () => false],
      ['why', async () => ({ ok: false, reason: 'connect ECONNREFUSED 127.0.0.1:5432' })],
      ['throws', () => {
        throw new Error('boom');
      }],
    ]);
    expect(await checkReadiness(checks, log)).toEqual({
      status: 503,
      body: { status: 'unavailable', checks: { plain: 'ok', said: 'ok', down: 'unavailable', why: 'unavailable: connect ECONNREFUSED 127.0.0.1:5432', throws: 'unavailable' } },
    });
    expect(await checkReadiness(new Map([['a', () => true]]), log)).toEqual({ status: 200, body: { status: 'ready', checks: { a: 'ok' } } });
  });

  it('answers even when checks hang: each counts as unavailable after READINESS_CHECK_MS', async () => {
    const hang: ReadinessCheck = () => new Promise(() => {});
    const r = await checkReadiness(new Map([['db', hang], ['ledger', hang], ['fine', () => true]]), log);
    expect(r).toEqual({ status: 503, body: { status: 'unavailable', checks: { db: `unavailable: no answer within ${READINESS_CHECK_MS} ms`, ledger: `unavailable: no answer within ${READINESS_CHECK_MS} ms`, fine: 'ok' } } });
  });
});
