import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, until, type Harness } from './harness.js';

describe('batch results in the spend and token counters', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('counts what a batch booked, so /metrics and the ledger agree', async () => {
    const { key, token } = (await h.admin('POST', '/key/generate', { key_alias: 'batcher' })).body;
    const sdk = new Anthropic({ apiKey: key, baseURL: h.baseURL, maxRetries: 0 });
    const params = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'Hello there, batch' }] };
    await sdk.messages.create(params);
    const batch = await sdk.messages.batches.create({ requests: [{ custom_id: 'a', params }, { custom_id: 'b', params }] } as never);
    for await (const _ of await sdk.messages.batches.results(batch.id)) void _;
    type Log = { api_key: string; call_type: string; spend_exact: string; input_tokens: number; output_tokens: number };
    const logs = async () => ((await h.admin('GET', `/spend/logs?api_key=${token}`)).body as Log[]);
    await until(async () => (await logs()).filter((r) => r.call_type === 'batch_result').length === 2);
    const rows = await logs();
    // Exact sums in micro-dollars (every rate here is whole micro-dollars per thousand tokens).
    const ledgerSpend = rows.reduce((s, r) => s + Math.round(Number(r.spend_exact) * 1e9), 0) / 1e9;
    const ledgerInput = rows.reduce((s, r) => s + r.input_tokens, 0);
    const ledgerOutput = rows.reduce((s, r) => s + r.output_tokens, 0);
    expect(rows.filter((r) => r.call_type === 'batch_result').every((r) => Number(r.spend_exact) > 0)).toBe(true);
    const m = await h.scrape();
    const who = { key_hash: token.slice(0, 12), key_alias: 'batcher' };
    expect(m.sum('tollgate_spend_usd_total', who)).toBeCloseTo(ledgerSpend, 12);
    expect(m.sum('tollgate_tokens_total', { ...who, type: 'input' })).toBe(ledgerInput);
    expect(m.sum('tollgate_tokens_total', { ...who, type: 'output' })).toBe(ledgerOutput);
  });
});
