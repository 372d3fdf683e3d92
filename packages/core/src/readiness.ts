import type { Logger } from 'pino';

/**
 * What a readiness check answers: ready or not, optionally with the reason it is not; or
 * `'degraded'`: reported, but the gateway stays ready (a dependency it works without, such as
 * Redis for shared limits: each replica then counts on its own).
 */
export type ReadinessResult = boolean | 'degraded' | { ok: boolean; reason?: string };

/** A readiness check as plugins register it (`api.readiness(name, check)`). */
export type ReadinessCheck = () => Promise<ReadinessResult> | ReadinessResult;

/**
 * How long one check may take. Orchestrators probe readiness with a short timeout (Kubernetes:
 * 1 s by default); a check stuck on a stalled database must not make the probe itself time out.
 */
export const READINESS_CHECK_MS = 500;

/**
 * Runs every check at once, each bounded by `READINESS_CHECK_MS`: `ok`, `degraded`,
 * `unavailable`, or `unavailable: <reason>` per check; 200 when all are ok or degraded, else 503.
 *
 * @example
 * await checkReadiness(new Map([['db', () => ({ ok: false, reason: 'connect ECONNREFUSED' })]]), log);
 * // { status: 503, body: { status: 'unavailable', checks: { db: 'unavailable: connect ECONNREFUSED' } } }
 */
export async function checkReadiness(checks: Map<string, ReadinessCheck>, log: Logger) {
  const answers = await Promise.all([...checks].map(([name, check]) => runCheck(name, check, log)));
  const results = Object.fromEntries(answers);
  const ready = answers.every(([, answer]) => answer === 'ok' || answer === 'degraded');
  return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'unavailable', checks: results } };
}

async function runCheck(name: string, check: ReadinessCheck, log: Logger): Promise<[string, string]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<ReadinessResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${READINESS_CHECK_MS} ms` }), READINESS_CHECK_MS);
  });
  try {
    const result = await Promise.race([Promise.resolve().then(check), late]);
    if (result === 'degraded') return [name, 'degraded'];
    const { ok, reason } = typeof result === 'boolean' ? { ok: result, reason: undefined } : result;
    return [name, ok ? 'ok' : reason ? `unavailable: ${reason}` : 'unavailable'];
  } catch (err) {
    log.warn({ err, check: name }, 'readiness check failed');
    return [name, 'unavailable'];
  } finally {
    clearTimeout(timer);
  }
}
