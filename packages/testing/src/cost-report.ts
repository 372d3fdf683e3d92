import type { RecordedRequest } from './recorded-request.js';
import type { Reply } from './reply.js';

/** One billed cost the mock's Admin API reports: a day, a model, an API key id, an amount in cents. */
export interface CostEntry {
  /** UTC day, YYYY-MM-DD. */
  date: string;
  model: string;
  apiKeyId: string;
  /** Cents as a decimal string, as Anthropic reports them ("123.45" is $1.2345). */
  cents: string;
}

const DAY = 86_400_000;
const SCALE = 10n ** 10n; // cents → 1e-10 cents = pico-dollars

/**
 * The costs behind the mock's `GET /v1/organizations/cost_report` (Anthropic's Admin API):
 * daily buckets from `starting_at` to `ending_at`, `group_by[]` of `api_key_id`, `model`
 * and `description`, `limit` buckets per page (default 7) and a `next_page` token. With
 * `adminKey` set, any other `x-api-key` gets a 401.
 */
export class CostReportStore {
  adminKey: string | undefined;
  private entries: CostEntry[] = [];

  add(...entries: CostEntry[]): void {
    this.entries.push(...entries);
  }

  clear(): void {
    this.entries = [];
    this.adminKey = undefined;
  }

  reply(req: RecordedRequest): Reply {
    if (this.adminKey !== undefined && req.headers['x-api-key'] !== this.adminKey) {
      return { status: 401, json: { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } } };
    }
    const q = new URLSearchParams(req.path.split('?')[1] ?? '');
    const start = Date.parse(q.get('starting_at') ?? '');
    if (Number.isNaN(start)) return { status: 400, json: { type: 'error', error: { type: 'invalid_request_error', message: 'starting_at: Field required' } } };
    const endParam = q.get('ending_at');
    const end = endParam === null ? Math.floor(start / DAY) * DAY + 7 * DAY : Date.parse(endParam);
    const limit = Math.min(31, Math.max(1, Number(q.get('limit') ?? 7) || 7));
    const groups = new Set(q.getAll('group_by[]'));
    const days: number[] = [];
    for (let t = Math.floor(start / DAY) * DAY; t < end; t += DAY) days.push(t);
    const offset = Number(/^page_(\d+)$/.exec(q.get('page') ?? '')?.[1] ?? 0);
    const page = days.slice(offset, offset + limit);
    const data = page.map((t) => ({
      starting_at: new Date(t).toISOString(),
      ending_at: new Date(t + DAY).toISOString(),
      results: this.results(new Date(t).toISOString().slice(0, 10), groups),
    }));
    const more = offset + limit < days.length;
    return { json: { data, has_more: more, next_page: more ? `page_${offset + limit}` : null } };
  }

  private results(date: string, groups: Set<string>) {
    const sums = new Map<string, { model: string | null; apiKeyId: string | null; total: bigint }>();
    for (const e of this.entries) {
      if (e.date !== date) continue;
      const model = groups.has('model') || groups.has('description') ? e.model : null;
      const apiKeyId = groups.has('api_key_id') ? e.apiKeyId : null;
      const k = `${model}\0${apiKeyId}`;
      const s = sums.get(k) ?? { model, apiKeyId, total: 0n };
      s.total += toScaled(e.cents);
      sums.set(k, s);
    }
    return [...sums.values()].map((s) => ({
      currency: 'USD',
      amount: fromScaled(s.total),
      workspace_id: null,
      description: s.model === null ? null : `${s.model} usage`,
      cost_type: s.model === null ? null : 'tokens',
      context_window: null,
      model: s.model,
      service_tier: null,
      token_type: null,
      api_key_id: s.apiKeyId,
    }));
  }
}

function toScaled(cents: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,10}))?$/.exec(cents);
  if (!m) throw new RangeError(`not a cents amount: ${cents}`);
  return BigInt(m[1]!) * SCALE + BigInt((m[2] ?? '').padEnd(10, '0'));
}

function fromScaled(n: bigint): string {
  const frac = (n % SCALE).toString().padStart(10, '0').replace(/0+$/, '');
  return frac === '' ? (n / SCALE).toString() : `${n / SCALE}.${frac}`;
}
