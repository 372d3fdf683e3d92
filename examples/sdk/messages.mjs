// @ts-check
/**
 * The official Anthropic SDK against Tollgate: the only changes from talking to Anthropic
 * directly are `baseURL` (the gateway's /anthropic mount) and `apiKey` (a gateway key).
 *
 *   TOLLGATE_URL=http://localhost:4000 TOLLGATE_KEY=sk-tg-... node examples/sdk/messages.mjs
 */
import { pathToFileURL } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';

/**
 * @typedef {object} MainOptions
 * @property {string} [url] The gateway's base URL. Default: env TOLLGATE_URL, else http://localhost:4000.
 * @property {string} [key] A gateway key. Default: env TOLLGATE_KEY.
 * @property {string} [model] Default: env TOLLGATE_MODEL, else claude-sonnet-4-6.
 * @property {{ write(text: string): unknown }} [out] Where results are printed. Default: stdout.
 */

/**
 * Sends a message, streams one, and counts tokens, printing each result.
 * @param {MainOptions} [options]
 */
export async function main(options = {}) {
  const url = options.url ?? process.env.TOLLGATE_URL ?? 'http://localhost:4000';
  const key = options.key ?? process.env.TOLLGATE_KEY;
  const model = options.model ?? process.env.TOLLGATE_MODEL ?? 'claude-sonnet-4-6';
  const out = options.out ?? process.stdout;
  // Without an explicit key the SDK would fall back to ANTHROPIC_API_KEY: never send that here.
  if (!key) throw new Error('set TOLLGATE_KEY to the gateway key (any value when the gateway runs open)');

  const client = new Anthropic({ baseURL: `${url}/anthropic`, apiKey: key });

  // 1. A plain message.
  const message = await client.messages.create({
    model,
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Say hello in five words.' }],
  });
  out.write(`message: ${textOf(message)}\n`);
  out.write(`usage: ${message.usage.input_tokens} in, ${message.usage.output_tokens} out\n`);

  // 2. A streamed message: text arrives delta by delta.
  out.write('stream: ');
  const stream = client.messages.stream({
    model,
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Count from one to five.' }],
  });
  stream.on('text', (delta) => out.write(delta));
  const streamed = await stream.finalMessage();
  out.write(`\nstream usage: ${streamed.usage.input_tokens} in, ${streamed.usage.output_tokens} out\n`);

  // 3. Count tokens without generating anything.
  const count = await client.messages.countTokens({
    model,
    messages: [{ role: 'user', content: 'How many tokens is this?' }],
  });
  out.write(`count_tokens: ${count.input_tokens}\n`);

  return { message, streamed, count };
}

/** @param {import('@anthropic-ai/sdk').Anthropic.Message} message */
function textOf(message) {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

// Run when executed directly (`node messages.mjs`), not when imported by the test.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err instanceof Anthropic.APIError ? err.message : err);
    process.exitCode = 1;
  });
}
