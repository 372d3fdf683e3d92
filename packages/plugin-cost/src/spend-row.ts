import type { Billing } from '@tollgate/core';

/**
 * One row of the spend ledger: a request (or a settled batch result) with everything needed
 * to attribute and re-price it. LiteLLM's spend-log names where they fit. `spend` is exact
 * pico-USD.
 */
export interface SpendRow {
  request_id: string;
  upstream_request_id: string | null;
  message_id: string | null;
  call_type: string;
  model: string | null;
  api_key: string | null;
  key_alias: string | null;
  user_id: string | null;
  team_id: string | null;
  end_user: string | null;
  request_tags: string[];
  status: number;
  /** Every input-side token: input + cache reads + cache writes. */
  prompt_tokens: number;
  completion_tokens: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens: number;
  cache_creation_5m_tokens: number;
  cache_creation_1h_tokens: number;
  web_search_requests: number;
  service_tier: string | null;
  inference_geo: string | null;
  speed: string | null;
  spend: bigint;
  unpriced: boolean;
  stream: boolean;
  aborted: boolean;
  batch_id: string | null;
  /** Epoch ms. */
  start_time: number;
  end_time: number;
  completion_start_time: number | null;
  /** The client's coding session (Claude Code's session id), agent and program (`claude-cli/2.1.328`). */
  session_id: string | null;
  agent_id: string | null;
  client: string | null;
  /** Who paid the upstream: the gateway's key, the client's own key, or its subscription. */
  billing: Billing;
  /** Booked but left out of the key's budget (a client's own credential, the key's setting). */
  budget_exempt: boolean;
  /** The model that served the turn (server-side fallback); null when no usage named one. */
  served_model: string | null;
  /** `spend` is an estimate booked against budgets until the model gets a price (reprice). */
  estimated: boolean;
  /** The pool upstream that answered (its configured name, never its key); null when unknown. */
  upstream: string | null;
}
