import { picoToNumber, picoToUsd } from '@tollgate/core';
import type { DaySpend, SpendGroup, StoredLog } from './spend-queries.js';
import type { SpendRow } from './spend-row.js';

/**
 * One /spend/logs row: the ledger row in LiteLLM's spend-log field names. `user` is the key's
 * user_id, `spend` is USD and `spend_exact` its exact decimal; times are ISO strings. `status`
 * is LiteLLM's `success` / `failure` (scripts filter on it); the HTTP status is `status_code`.
 */
export type SpendLogView = Omit<SpendRow, 'user_id' | 'spend' | 'start_time' | 'end_time' | 'completion_start_time' | 'status'> & {
  status: 'success' | 'failure';
  status_code: number;
  user: string | null;
  spend: number;
  spend_exact: string;
  total_tokens: number;
  startTime: string;
  endTime: string;
  completionStartTime: string | null;
};

/** One /spend/report row: the group's value under `key`. */
export interface SpendReportView {
  key: string | null;
  /** Only when grouped by key. */
  key_alias?: string | null;
  spend: number;
  spend_exact: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  unpriced_requests: number;
}

/** One /spend/tags row (LiteLLM's shape, plus the exact total). */
export interface TagSpendView {
  individual_request_tag: string;
  log_count: number;
  total_spend: number;
  total_spend_exact: string;
}

export function spendLogView(r: StoredLog): SpendLogView {
  const spend = BigInt(r.spend_text);
  return {
    request_id: r.request_id,
    call_type: r.call_type,
    model: r.model,
    api_key: r.api_key,
    key_alias: r.key_alias,
    user: r.user_id,
    team_id: r.team_id,
    end_user: r.end_user,
    request_tags: JSON.parse(r.request_tags) as string[],
    // As LiteLLM: a call that completed is a success; an error status or an abort is a failure.
    status: r.status >= 200 && r.status < 300 && !r.aborted ? 'success' : 'failure',
    status_code: r.status,
    spend: picoToNumber(spend),
    spend_exact: picoToUsd(spend),
    prompt_tokens: r.prompt_tokens,
    completion_tokens: r.completion_tokens,
    total_tokens: r.prompt_tokens + r.completion_tokens,
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    cache_read_input_tokens: r.cache_read_input_tokens,
    cache_creation_input_tokens: r.cache_creation_input_tokens,
    cache_creation_5m_tokens: r.cache_creation_5m_tokens,
    cache_creation_1h_tokens: r.cache_creation_1h_tokens,
    web_search_requests: r.web_search_requests,
    service_tier: r.service_tier,
    inference_geo: r.inference_geo,
    speed: r.speed,
    unpriced: Boolean(r.unpriced),
    estimated: Boolean(r.estimated),
    served_model: r.served_model,
    stream: Boolean(r.stream),
    aborted: Boolean(r.aborted),
    upstream_request_id: r.upstream_request_id,
    message_id: r.message_id,
    batch_id: r.batch_id,
    session_id: r.session_id,
    agent_id: r.agent_id,
    client: r.client,
    billing: (r.billing ?? 'gateway') as SpendRow['billing'],
    budget_exempt: Boolean(r.budget_exempt),
    upstream: r.upstream,
    startTime: iso(r.start_time),
    endTime: iso(r.end_time),
    completionStartTime: r.completion_start_time === null ? null : iso(r.completion_start_time),
  };
}

export function spendReportView(g: SpendGroup): SpendReportView {
  return {
    key: g.key,
    ...(g.keyAlias === undefined ? {} : { key_alias: g.keyAlias }),
    spend: picoToNumber(g.spend),
    spend_exact: picoToUsd(g.spend),
    requests: g.requests,
    prompt_tokens: g.promptTokens,
    completion_tokens: g.completionTokens,
    unpriced_requests: g.unpricedRequests,
  };
}

export function tagSpendView(g: SpendGroup): TagSpendView {
  // Tags come from the tags table: never null.
  return { individual_request_tag: g.key ?? '', log_count: g.requests, total_spend: picoToNumber(g.spend), total_spend_exact: picoToUsd(g.spend) };
}

/** One /spend/daily row. */
export function daySpendView(d: DaySpend) {
  return {
    date: iso(d.day).slice(0, 10),
    spend: picoToNumber(d.spend),
    spend_exact: picoToUsd(d.spend),
    requests: d.requests,
    failed_requests: d.failedRequests,
    unpriced_requests: d.unpricedRequests,
  };
}

/** Epoch ms (a number, or text from a bigint column) as an ISO string. */
export function iso(ms: number | string): string {
  return new Date(Number(ms)).toISOString();
}
