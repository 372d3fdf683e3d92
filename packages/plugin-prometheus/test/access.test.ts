import { afterEach, describe, expect, it } from 'vitest';
import { MASTER_KEY, startHarness, type Harness } from './harness.js';

const METRICS_KEY = 'sk-scrape-0123456789';

describe('/metrics access', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const get = (headers: Record<string, string> = {}) => fetch(`${h!.url}/metrics`, { headers });
  const refusal = async (res: Response) => [res.status, ((await res.json()) as { error: { type: string } }).error.type];

  it('needs the master key by default: the metrics name every key, end user and spend', async () => {
    h = await startHarness();
    expect(await refusal(await get())).toEqual([401, 'authentication_error']);
    expect(await refusal(await get({ authorization: 'Bearer sk-wrong' }))).toEqual([401, 'authentication_error']);
    const res = await get({ authorization: `Bearer ${MASTER_KEY}` });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE tollgate_requests_total counter');
    expect(h.logs.some((l) => l.includes('OPEN METRICS'))).toBe(false);
  });

  it('requireKey: false opts out: anyone may scrape', async () => {
    h = await startHarness({ prometheus: { requireKey: false } });
    expect((await get()).status).toBe(200);
    expect(h.logs.some((l) => l.includes('OPEN METRICS'))).toBe(false);
  });

  it('is open, with a warning at boot, only when the gateway has no credential to check', async () => {
    h = await startHarness({ bare: true });
    expect((await get()).status).toBe(200);
    const warnings = h.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.msg.startsWith('OPEN METRICS'));
    expect(warnings).toEqual([
      expect.objectContaining({ level: 40, msg: 'OPEN METRICS: /metrics is served to anyone (no metricsKey and no auth plugin); set metricsKey, or requireKey: false to say it is meant' }),
    ]);
  });

  it('requireKey: refuses scrapes without the master key, in the Anthropic error shape', async () => {
    h = await startHarness({ prometheus: { requireKey: true } });
    expect(await refusal(await get())).toEqual([401, 'authentication_error']);
    expect(await refusal(await get({ authorization: 'Bearer sk-wrong' }))).toEqual([401, 'authentication_error']);
    expect((await get({ authorization: `Bearer ${MASTER_KEY}` })).status).toBe(200);
    expect((await get({ 'x-api-key': MASTER_KEY })).status).toBe(200);
  });

  it('metricsKey: a key only for scraping; the master key still works', async () => {
    h = await startHarness({ prometheus: { metricsKey: METRICS_KEY } });
    expect(await refusal(await get())).toEqual([401, 'authentication_error']);
    expect(await refusal(await get({ authorization: 'Bearer sk-scrape-wrong' }))).toEqual([401, 'authentication_error']);
    expect((await get({ authorization: `Bearer ${METRICS_KEY}` })).status).toBe(200);
    expect((await get({ authorization: `Bearer ${MASTER_KEY}` })).status).toBe(200);
  });

  it('metricsKey works without an auth plugin', async () => {
    h = await startHarness({ bare: true, prometheus: { metricsKey: METRICS_KEY } });
    expect(await refusal(await get({ authorization: `Bearer ${MASTER_KEY}` }))).toEqual([401, 'authentication_error']);
    expect((await get({ authorization: `Bearer ${METRICS_KEY}` })).status).toBe(200);
  });

  it('requireKey with neither a metricsKey nor an auth plugin fails the boot', async () => {
    const err = await startHarness({ bare: true, prometheus: { requireKey: true } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TG_ERR_CONFIG', message: expect.stringContaining('prometheus.requireKey') });
  });
});
