// Request bodies shaped like a coding agent's (Claude Code's first turn, seen on the wire):
// 3 system blocks (one ~28 KB with cache_control), 12 tools with ~47 KB of nested JSON schema,
// one user message of 9 text blocks, thinking, context_management, stream: true,
// max_tokens 32000, and Claude Code's JSON metadata.user_id. Larger sizes add earlier turns
// (assistant text + tool_use, user tool_result) until the body reaches the size asked for.
import { MODEL } from './fixtures.mjs';

const prose = (n, seed) => {
  const words = ['the', 'gateway', 'reads', 'only', 'what', 'it', 'needs', 'and', 'forwards', 'bytes', 'unchanged', 'to', 'upstream', 'while', 'usage', 'is', 'tapped'];
  let out = '';
  for (let i = 0; out.length < n; i++) out += words[(i * 7 + seed) % words.length] + (i % 13 === 12 ? '.\n' : ' ');
  return out.slice(0, n);
};

/** A nested JSON schema of roughly `bytes` bytes (objects in objects, arrays of objects). */
function schema(bytes, seed) {
  const props = {};
  for (let i = 0; JSON.stringify(props).length < bytes; i++) {
    props[`field_${seed}_${i}`] = {
      type: 'object',
      description: prose(60, seed + i),
      properties: {
        name: { type: 'string', description: prose(40, i) },
        items: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } }, required: ['id'] } },
        mode: { type: 'string', enum: ['fast', 'careful', 'auto'] },
      },
      required: ['name'],
      additionalProperties: false,
    };
  }
  return { type: 'object', properties: props, $schema: 'http://json-schema.org/draft-07/schema#' };
}

function firstTurn() {
  return {
    model: MODEL,
    max_tokens: 32000,
    stream: true,
    thinking: { type: 'enabled', budget_tokens: 31999 },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    metadata: { user_id: JSON.stringify({ device_id: 'f095'.repeat(16), account_uuid: '', session_id: '3dab0c1e-5f7a-4b2c-9d8e-0a1b2c3d4e5f' }) },
    system: [
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." },
      { type: 'text', text: prose(28 * 1024, 1), cache_control: { type: 'ephemeral' } },
      { type: 'text', text: prose(2 * 1024, 2) },
    ],
    tools: Array.from({ length: 12 }, (_, i) => ({ name: `Tool${i}`, description: prose(300, i), input_schema: schema(3600, i) })),
    messages: [{ role: 'user', content: Array.from({ length: 9 }, (_, i) => ({ type: 'text', text: prose(i === 8 ? 2000 : 400, i) })) }],
  };
}

/** An agent-shaped body of about `bytes` bytes (at least the first turn, ~87 KB). */
export function agentBody(bytes) {
  const body = firstTurn();
  const history = [];
  for (let turn = 0; JSON.stringify(body).length + JSON.stringify(history).length < bytes - 200; turn++) {
    history.push(
      { role: 'assistant', content: [{ type: 'text', text: prose(600, turn) }, { type: 'tool_use', id: `toolu_${turn}`, name: 'Tool1', input: { name: `n${turn}`, mode: 'auto' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${turn}`, content: prose(6000, turn + 3) }] },
    );
  }
  body.messages = [...history, ...body.messages];
  return JSON.stringify(body);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const first = JSON.parse(agentBody(0));
  console.log('first turn bytes', Buffer.byteLength(agentBody(0)), 'system[1]', first.system[1].text.length, 'tools', JSON.stringify(first.tools).length);
  for (const n of [500 * 1024, 2 * 1024 * 1024]) console.log(n, '->', Buffer.byteLength(agentBody(n)));
}
