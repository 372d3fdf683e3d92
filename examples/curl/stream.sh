#!/usr/bin/env bash
# A streamed message: the gateway relays the server-sent events as they arrive.
#
#   TOLLGATE_URL=http://localhost:4000 TOLLGATE_KEY=sk-tg-... bash examples/curl/stream.sh
set -euo pipefail

url="${TOLLGATE_URL:-http://localhost:4000}"
key="${TOLLGATE_KEY:?set TOLLGATE_KEY to the gateway key (any value when the gateway runs open)}"
model="${TOLLGATE_MODEL:-claude-sonnet-4-6}"

# -N: print each event as it arrives instead of buffering the output.
curl -sS -N --fail-with-body "$url/anthropic/v1/messages" \
  -H "x-api-key: $key" \
  -H "anthropic-version: 2023-06-01" \
  -H "content-type: application/json" \
  --data-binary @- <<JSON
{
  "model": "$model",
  "max_tokens": 256,
  "stream": true,
  "messages": [{ "role": "user", "content": "Count from one to five." }]
}
JSON
