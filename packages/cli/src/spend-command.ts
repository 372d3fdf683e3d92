import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { callAdminApi } from './admin-client.js';
import type { CliIo } from './io.js';
import { adminTarget } from './keys-command.js';
import type { SpendCommand } from './spend-args.js';
import { formatPrices, formatSpendLogs, formatSpendReport, type PriceModel, type SpendLogPage, type SpendReportRow } from './spend-format.js';
import { formatReconcile, type ReconcileAnswer } from './reconcile-format.js';
import { UsageError } from './usage-error.js';

async function readPriceFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * `tollgate spend report|logs` and `tollgate prices` against a running gateway: one admin call,
 * printed as a table (or the API's JSON with `--json`). Resolves 0; throws `AdminApiError` /
 * `GatewayUnreachableError` (exit 1) and `UsageError` (exit 2), as the keys commands do.
 *
 * @example
 * const code = await runSpend(parseSpendArgs(['spend', 'report', '--by', 'tag']), io);
 */
export async function runSpend(cmd: SpendCommand, io: CliIo, options: { timeoutMs?: number } = {}): Promise<number> {
  if (cmd.masterKey === undefined && !io.env.TOLLGATE_MASTER_KEY && !io.env.LITELLM_MASTER_KEY) {
    const what = cmd.command === 'prices' ? 'prices needs' : 'spend commands need';
    throw new UsageError(`${what} the master key: set TOLLGATE_MASTER_KEY (or pass --master-key)`);
  }
  const call = cmd.command === 'prices' && cmd.action === 'diff' ? { ...cmd.call, body: { name: basename(cmd.file), content: await readPriceFile(cmd.file) } } : cmd.call;
  const answer = await callAdminApi(call, adminTarget(cmd, io.env, options.timeoutMs));
  if (cmd.json) {
    io.out(JSON.stringify(answer, null, 2));
    return 0;
  }
  if (cmd.command === 'spend' && cmd.action === 'reprice') {
    const r = answer as { repriced: number; still_unpriced: number; added_spend: string };
    io.out(`repriced ${r.repriced} request(s), adding $${r.added_spend}; ${r.still_unpriced} still without a price`);
    return 0;
  }
  if (cmd.command === 'prices' && cmd.action === 'reload') {
    const r = answer as { models: number; loaded_at: string };
    io.out(`prices reloaded: ${r.models} models, in force since ${r.loaded_at}`);
    return 0;
  }
  if (cmd.command === 'prices' && cmd.action === 'diff') {
    const { changes } = answer as { changes: string[] };
    if (changes.length === 0) io.out(`${cmd.file}: no change to the prices in force`);
    for (const line of changes) io.out(line);
    return 0;
  }
  if (cmd.command === 'spend' && cmd.action === 'reconcile') {
    for (const line of formatReconcile(answer as ReconcileAnswer)) io.out(line);
    return 0;
  }
  if (cmd.command === 'spend' && cmd.action === 'settle-batches') {
    const r = answer as { checked: number; settled: number; booked: number; failed: number; skipped?: true };
    if (r.skipped) io.out('another gateway on this database is settling batches now: nothing done here');
    else io.out(`asked about ${r.checked} unsettled batch(es): ${r.settled} settled, ${r.booked} result(s) booked, ${r.failed} failed (tried again on the next run)`);
    return 0;
  }
  if (cmd.command === 'spend' && cmd.action === 'rebuild-rollups') {
    const r = answer as { from_day: string | null };
    io.out(`rebuilt the daily rollups ${r.from_day === null ? 'of every day' : `from ${r.from_day} on`} out of the ledger's rows`);
    return 0;
  }
  if (cmd.command === 'spend' && cmd.action === 'retention') {
    const r = answer as { droppedPartitions: number; deletedRows: number; foldedRollupRows: number; skipped?: true };
    if (r.skipped) io.out('another gateway on this database is running the ledger maintenance now: nothing done here');
    else io.out(`dropped ${r.droppedPartitions} day partition(s), deleted ${r.deletedRows} row(s), folded ${r.foldedRollupRows} rollup row(s) into the all-time totals`);
    return 0;
  }
  const lines =
    cmd.command === 'prices'
      ? formatPrices(answer as PriceModel[], { wide: cmd.wide })
      : cmd.action === 'report'
        ? formatSpendReport(cmd.by, answer as SpendReportRow[])
        : formatSpendLogs(answer as SpendLogPage);
  for (const line of lines) io.out(line);
  return 0;
}
