import type { BookedSpend, Outcome, RequestContext, Usage } from '@tollgate/core';
import type { SpendRow } from './spend-row.js';

/** How a request was priced. `unpriced`: billable tokens but no price for the model. */
export interface Priced {
  spend: bigint;
  unpriced: boolean;
  /** `spend` is an estimate (no price yet; the unpriced policy `estimate`) until re-priced. */
  estimated?: boolean;
  /** The model that served the turn, when it differs from the requested one or was read from usage. */
  servedModel?: string;
}

const ZERO = { input: 0, output: 0, read: 0, w5: 0, w1: 0, web: 0 };

/** Who a request is booked to: the key and its owners, the end user and the tags. */
export type Attribution = Pick<SpendRow, 'api_key' | 'key_alias' | 'user_id' | 'team_id' | 'end_user' | 'request_tags'>;

/**
 * The attribution of a request, from its principal and metadata.
 *
 * @example
 * attributionOf(ctx).api_key; // the key's hash, or null in open mode
 */
export function attributionOf(ctx: RequestContext): Attribution {
  const p = ctx.principal;
  return {
    api_key: p?.keyHash ?? null,
    key_alias: ledgerText(p?.keyAlias),
    user_id: ledgerText(p?.userId),
    team_id: ledgerText(p?.teamId),
    end_user: ledgerText(ctx.endUser),
    request_tags: ctx.tags.some(hasNul) ? ctx.tags.map((t) => ledgerText(t)!) : ctx.tags,
  };
}

const hasNul = (s: string) => s.includes('\0');

/**
 * Text as the ledger keeps it, in both engines: PostgreSQL refuses NUL characters in text (one
 * such row failed its whole batch, and every batch after it went to the spool), so they become
 * U+FFFD. Applied where rows are made, so the totals and the ledger agree.
 *
 * @example
 * ledgerText('a\0b'); // 'a\uFFFDb'
 */
export function ledgerText(s: string | null | undefined): string | null {
  if (s === null || s === undefined) return null;
  return hasNul(s) ? s.replaceAll('\0', '\uFFFD') : s;
}

/**
 * The ledger row of a finished request: attribution from the principal and the request's
 * metadata, every token field on its own, status and timings.
 */
export function spendRowFor(ctx: RequestContext, outcome: Outcome, priced: Priced, ids: { messageId?: string; batchId?: string }): SpendRow {
  return {
    request_id: ctx.id,
    upstream_request_id: ledgerText(ctx.state.cost?.upstreamRequestId),
    message_id: ledgerText(ids.messageId),
    call_type: ctx.route.kind,
    model: ledgerText(ctx.route.model),
    ...attributionOf(ctx),
    status: outcome.status,
    ...tokenFields(ctx.usage),
    spend: priced.spend,
    unpriced: priced.unpriced,
    stream: ctx.route.stream,
    aborted: outcome.aborted,
    batch_id: ids.batchId ?? null,
    start_time: ctx.startTime,
    end_time: Date.now(),
    completion_start_time: ctx.state.cost?.firstByteAt ?? null,
    session_id: ledgerText(ctx.client.sessionId),
    agent_id: ledgerText(ctx.client.agentId),
    client: ledgerText(ctx.client.client),
    billing: ctx.billing,
    budget_exempt: ctx.budgetExempt,
    served_model: ledgerText(priced.servedModel),
    estimated: priced.estimated ?? false,
    upstream: ledgerText(ctx.upstream),
  };
}

/** Token fields of a ledger row; `prompt_tokens` counts every input-side token. */
export function tokenFields(u: Usage | undefined) {
  const t = u ? { input: u.inputTokens, output: u.outputTokens, read: u.cacheReadTokens, w5: u.cacheWrite5mTokens, w1: u.cacheWrite1hTokens, web: u.webSearchRequests } : ZERO;
  return {
    prompt_tokens: t.input + t.read + t.w5 + t.w1,
    completion_tokens: t.output,
    input_tokens: t.input,
    output_tokens: t.output,
    cache_read_input_tokens: t.read,
    cache_creation_input_tokens: t.w5 + t.w1,
    cache_creation_5m_tokens: t.w5,
    cache_creation_1h_tokens: t.w1,
    web_search_requests: t.web,
    service_tier: u?.serviceTier ?? null,
    inference_geo: u?.inferenceGeo ?? null,
    speed: u?.speed ?? null,
  };
}

/**
 * A row booked outside a request (a batch result) as exporters hear of it (`spend:booked`).
 *
 * @example
 * api.events.emit('spend:booked', bookedSpendOf(row));
 */
export function bookedSpendOf(row: SpendRow): BookedSpend {
  const w5 = row.cache_creation_5m_tokens;
  const w1 = row.cache_creation_1h_tokens;
  return {
    model: row.model ?? undefined,
    principal: row.api_key ? { kind: 'virtual', keyHash: row.api_key, keyAlias: row.key_alias ?? undefined, userId: row.user_id ?? undefined, teamId: row.team_id ?? undefined } : undefined,
    endUser: row.end_user ?? undefined,
    usage: {
      inputTokens: row.input_tokens, outputTokens: row.output_tokens, cacheReadTokens: row.cache_read_input_tokens,
      cacheWriteTokens: w5 + w1, cacheWrite5mTokens: w5, cacheWrite1hTokens: w1, webSearchRequests: row.web_search_requests, raw: {},
    },
    spend: row.spend,
    unpriced: row.unpriced,
  };
}
