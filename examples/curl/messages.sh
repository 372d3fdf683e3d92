#!/usr/bin/env bash
# One message through Tollgate, exactly as you would send it to api.anthropic.com:
# only the base URL and the key change.
#
#   TOLLGATE_URL=http://localhost:4000 TOLLGATE_KEY=sk-tg-... bash examples/curl/messages.sh
set -euo pipefail

url="${TOLLGATE_URL:-http://localhost:4000}"
key="${TOLLGATE_KEY:?set TOLLGATE_KEY to the gateway key (any value when the gateway runs open)}"
model="${TOLLGATE_MODEL:-claude-sonnet-4-6}"

# --fail-with-body: exit 22 on an HTTP error, but still print the error JSON.
curl -sS --fail-with-body "$url/anthropic/v1/messages" \
  -H "x-api-key: $key" \
  -H "anthropic-version: 2023-06-01" \
  -H "content-type: application/json" \
  --data-binary @- <<JSON
{
  "model": "$model",
  "max_tokens": 256,
  "messages": [{ "role": "user", "content": "Say hello in five words." }]
}
JSON
echo
