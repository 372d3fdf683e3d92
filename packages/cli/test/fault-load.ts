import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rawRequest } from '@tollgate/testing';
import { spawnCli, type CliProcess } from './cli-process.js';

export const UPSTREAM_KEY = 'sk-ant-upstream-faults-5c2e';
export const MASTER_KEY = 'sk-tg-master-faults-8b1d';
const LISTENING = /^tollgate listening on (http:\/\/127\.0\.0\.1:\d+)$/;

/** What a phase of load got: status → count. */
export type Answers = Map<number, number>;

/**
 * Sends `count` messages requests, `concurrency` at a time, each for end user `phase` (so the
 * ledger rows of the phase can be counted), while `during` runs. Connection failures count
 * under status 0.
 */
export async function drive(url: string, phase: string, count: number, opts: { concurrency?: number; during?: () => Promise<void> } = {}): Promise<Answers> {
  const answers: Answers = new Map();
  let next = 0;
  const body = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }], metadata: { user_id: phase } });
  const worker = async () => {
    while (next < count) {
      next++;
      const status = await rawRequest(`${url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY }, body }).then(
        (r) => r.status,
        () => 0,
      );
      answers.set(status, (answers.get(status) ?? 0) + 1);
    }
  };
  await Promise.all([...Array.from({ length: opts.concurrency ?? 8 }, worker), opts.during?.()]);
  return answers;
}

/** GET /health/readiness: its status, body and how long it took. */
export async function readiness(url: string): Promise<{ status: number; body: { status: string; checks: Record<string, string> }; ms: number }> {
  const started = Date.now();
  const res = await rawRequest(`${url}/health/readiness`);
  return { status: res.status, body: JSON.parse(res.body.toString()), ms: Date.now() - started };
}

/** Writes `config` (JSON is YAML) to `dir` and starts the CLI on it; resolves once it listens. */
export async function startGateway(dir: string, config: object, env: Record<string, string>): Promise<{ cli: CliProcess; url: string }> {
  const file = join(dir, `tollgate-${Date.now()}.yaml`);
  await writeFile(file, JSON.stringify(config));
  const cli = spawnCli(['--config', file, '--port', '0', '--host', '127.0.0.1'], { ANTHROPIC_API_KEY: UPSTREAM_KEY, TOLLGATE_MASTER_KEY: MASTER_KEY, ...env }, dir);
  const [, url] = await cli.waitForStderr(LISTENING, 20_000);
  return { cli, url: url! };
}

/** One line of the figures a fault suite prints: requests answered 200 vs rows booked. */
export function figure(fault: string, answers: Answers, booked: number, extra = ''): string {
  const other = [...answers].filter(([s]) => s !== 200).map(([s, n]) => `${n}×${s}`).join(', ');
  return `${fault.padEnd(28)} answered 200: ${String(answers.get(200) ?? 0).padStart(5)}  booked: ${String(booked).padStart(5)}${other ? `  other answers: ${other}` : ''}${extra ? `  ${extra}` : ''}`;
}
