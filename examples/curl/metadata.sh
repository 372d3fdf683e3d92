#!/usr/bin/env bash
# Attribution: who the end user is and which tags to count this request under.
#
# - litellm_metadata.tags and litellm_metadata.user are read by the gateway and removed from
#   the body before it goes upstream (Anthropic would reject the unknown field).
# - metadata.user_id is Anthropic's own field: forwarded unchanged, and used as the end user
#   when litellm_metadata.user is absent.
#
#   TOLLGATE_URL=http://localhost:4000 TOLLGATE_KEY=sk-tg-... bash examples/curl/metadata.sh
set -euo pipefail

url="${TOLLGATE_URL:-http://localhost:4000}"
key="${TOLLGATE_KEY:?set TOLLGATE_KEY to the gateway key (any value when the gateway runs open)}"
model="${TOLLGATE_MODEL:-claude-sonnet-4-6}"

curl -sS --fail-with-body "$url/anthropic/v1/messages" \
  -H "x-api-key: $key" \
  -H "anthropic-version: 2023-06-01" \
  -H "content-type: application/json" \
  --data-binary @- <<JSON
{
  "model": "$model",
  "max_tokens": 256,
  "messages": [{ "role": "user", "content": "Suggest a name for a search feature." }],
  "metadata": { "user_id": "user-4821" },
  "litellm_metadata": { "tags": ["search", "experiment-7"], "user": "customer-acme" }
}
JSON
echo
