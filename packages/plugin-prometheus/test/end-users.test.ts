import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { messageJson } from '@tollgate/testing';
import { MASTER_KEY, startHarness, until, type Harness } from './harness.js';

const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Hi' }] };

/** Sends one message for end user `eu-7` (metadata.user_id) and one for `eu-8` (litellm_metadata.user). */
async function sendForEndUsers(h: Harness): Promise<void> {
  const sdk = new Anthropic({ apiKey: MASTER_KEY, baseURL: h.baseURL, maxRetries: 0 });
  h.mock.route('POST', '/v1/messages', { json: messageJson({ model: 'claude-haiku-4-5', usage: { input_tokens: 1000, output_tokens: 0 } }) });
  await sdk.messages.create({ ...PARAMS, metadata: { user_id: 'eu-7' } });
  await sdk.messages.create({ ...PARAMS, litellm_metadata: { user: 'eu-8' } } as never);
  await h.completedAtLeast(2);
}

/** The ledger's end_user for each completed request, in order (waits for the writer). */
async function ledgerEndUsers(h: Harness): Promise<(string | null)[]> {
  const rows: (string | null)[] = [];
  for (const r of h.completed) {
    let found: { end_user: string | null }[] = [];
    await until(async () => (found = (await h.admin('GET', `/spend/logs?request_id=${r.id}`)).body).length === 1);
    rows.push(found[0].end_user);
  }
  return rows;
}

describe('end-user switches', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('by default, end users are labels and ledger entries', async () => {
    h = await startHarness();
    await sendForEndUsers(h);
    const m = await h.scrape();
    expect(m.find('tollgate_requests_total').map((s) => s.labels.end_user)).toEqual(['eu-7', 'eu-8']);
    expect(m.value('tollgate_spend_usd_total', { end_user: 'eu-8' })).toBe(0.001);
    expect(await ledgerEndUsers(h)).toEqual(['eu-7', 'eu-8']);
  });

  it('disableEndUserLabels: no end_user label anywhere in the metrics, while the ledger keeps them', async () => {
    h = await startHarness({ prometheus: { disableEndUserLabels: true } });
    await sendForEndUsers(h);
    const m = await h.scrape();
    expect(m.samples.filter((s) => 'end_user' in s.labels)).toEqual([]);
    expect(m.value('tollgate_requests_total')).toBe(2);
    expect(m.value('tollgate_spend_usd_total')).toBe(0.002);
    expect(h.completed.map((r) => r.endUser)).toEqual(['eu-7', 'eu-8']);
    expect(await ledgerEndUsers(h)).toEqual(['eu-7', 'eu-8']);
  });

  it('disableEndUserTracking: no end user in the metrics, the records or the ledger; the body still goes upstream unchanged', async () => {
    h = await startHarness({ prometheus: { disableEndUserTracking: true } });
    await sendForEndUsers(h);
    const m = await h.scrape();
    expect(m.samples.filter((s) => 'end_user' in s.labels)).toEqual([]);
    expect(m.value('tollgate_requests_total')).toBe(2);
    expect(h.completed.map((r) => r.endUser)).toEqual([undefined, undefined]);
    expect(await ledgerEndUsers(h)).toEqual([null, null]);
    const sent = await h.mock.waitForRequests(2);
    expect(sent[0].json().metadata).toEqual({ user_id: 'eu-7' });
    // litellm_metadata is the gateway's own field: removed before the upstream, as always.
    expect('litellm_metadata' in sent[1].json()).toBe(false);
  });
});
