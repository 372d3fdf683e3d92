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

  it('is open by default, as Prometheus expects', async () => {
    h = await startHarness();
    const res = await get();
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE tollgate_requests_total counter');
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
