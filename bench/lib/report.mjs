// Turns per-target results into metric rows, verdicts against the budget, and markdown.
import { median } from './stats.mjs';

const MiB = 'MiB';
const maxOf = (...xs) => {
  const v = xs.filter((x) => typeof x === 'number');
  return v.length ? Math.max(...v) : undefined;
};

/**
 * Metric rows. `compare`: 'ratio' (candidate ÷ baseline) or 'diff' (candidate − baseline).
 * `budget`: the pass condition on that comparison; absent = informational.
 */
export function metricDefs(cfg) {
  return [
    { id: 'rps', label: `Throughput, closed loop c=${cfg.concurrency} (req/s)`, unit: 'req/s', digits: 0, compare: 'ratio', budget: { op: '>=', value: 0.8 }, get: (r) => r.closed?.rps },
    { id: 'cpuPerReq', label: 'Target CPU per request, closed loop (µs)', unit: 'µs', digits: 1, compare: 'ratio', get: (r) => r.closed?.cpuUsPerReq },
    { id: 'targetCpu', label: 'Target CPU during closed loop (% of a core)', unit: '%', digits: 0, compare: 'diff', get: (r) => r.closed?.targetCpuPct },
    { id: 'openP50', label: `Latency p50, open loop ${cfg.rate} req/s (ms)`, unit: 'ms', digits: 3, compare: 'diff', budget: { op: '<=', value: 0.2 }, get: (r) => r.open?.latencyMs?.p50 },
    { id: 'openP99', label: `Latency p99, open loop ${cfg.rate} req/s (ms)`, unit: 'ms', digits: 3, compare: 'diff', budget: { op: '<=', value: 1 }, get: (r) => r.open?.latencyMs?.p99 },
    { id: 'ttfbP50', label: `Stream time to headers p50 (ms)`, unit: 'ms', digits: 3, compare: 'diff', get: (r) => r.streams?.ttfbMs?.p50 },
    { id: 'ttfbP99', label: `Stream time to headers p99 (ms)`, unit: 'ms', digits: 3, compare: 'diff', get: (r) => r.streams?.ttfbMs?.p99 },
    { id: 'deltaP50', label: `Stream first content_block_delta p50 (ms, ${cfg.eventDelayMs} ms/event)`, unit: 'ms', digits: 3, compare: 'diff', budget: { op: '<=', value: 0.5 }, get: (r) => r.streams?.firstDeltaMs?.p50 },
    { id: 'deltaP99', label: `Stream first content_block_delta p99 (ms)`, unit: 'ms', digits: 3, compare: 'diff', get: (r) => r.streams?.firstDeltaMs?.p99 },
    { id: 'rssIdle', label: 'RSS idle, after warm-up (MiB)', unit: MiB, digits: 1, compare: 'diff', budget: { op: '<=', value: 60 }, get: (r) => r.rssIdleMiB },
    { id: 'rssPeak', label: `RSS peak, closed loop c=${cfg.concurrency} (MiB)`, unit: MiB, digits: 1, compare: 'diff', budget: { op: '<=', value: 60 }, get: (r) => r.closed?.rssPeakMiB },
    { id: 'rssHold', label: `RSS with ${cfg.hold} open streams (MiB)`, unit: MiB, digits: 1, compare: 'diff', budget: { op: '<=', value: 60 }, requires: { id: 'holdConnected', atLeast: cfg.hold }, get: (r) => r.hold?.rssMiB },
    { id: 'holdConnected', label: `Held streams that got their first event, of ${cfg.hold}`, unit: '', digits: 0, compare: 'diff', check: (v) => v >= cfg.hold, checkLabel: `all ${cfg.hold}`, get: (r) => r.hold?.connected },
    { id: 'errors', label: 'Failed requests, all phases', unit: '', digits: 0, compare: 'diff', check: (v) => v === 0, checkLabel: '0', get: (r) => r.failedTotal },
    { id: 'foreign', label: 'Noise: CPU of other processes, max over closed/open/stream phases (% of a core)', unit: '%', digits: 0, compare: 'diff', get: (r) => maxOf(r.closed?.foreignCpuPct, r.open?.foreignCpuPct, r.streams?.foreignCpuPct) },
  ];
}

/** Median over rounds of each metric for each target. */
export function aggregate(defs, rounds, targetNames) {
  const out = {};
  for (const name of targetNames) {
    out[name] = {};
    for (const d of defs) out[name][d.id] = median(rounds.map((round) => round[name]).filter(Boolean).map((r) => d.get(r)));
  }
  return out;
}

export function verdicts(defs, agg, baseline, candidates) {
  const rows = [];
  for (const d of defs) {
    const row = { id: d.id, label: d.label, unit: d.unit, values: {}, comparisons: {} };
    for (const name of Object.keys(agg)) row.values[name] = agg[name][d.id];
    const base = agg[baseline]?.[d.id];
    for (const c of candidates) {
      const v = agg[c]?.[d.id];
      let cmp;
      if (typeof v === 'number' && typeof base === 'number') cmp = d.compare === 'ratio' ? (base === 0 ? undefined : v / base) : v - base;
      let pass;
      let invalid;
      if (d.budget && cmp !== undefined) pass = d.budget.op === '>=' ? cmp >= d.budget.value : cmp <= d.budget.value;
      if (d.check && typeof v === 'number') pass = d.check(v);
      if (d.requires) {
        const short = [baseline, c].filter((n) => !(agg[n]?.[d.requires.id] >= d.requires.atLeast));
        if (short.length) {
          invalid = `not comparable: ${short.join(', ')} did not reach ${d.requires.atLeast}`;
          pass = undefined;
        }
      }
      const budget = d.budget ? `${d.budget.op === '>=' ? '≥' : '≤'} ${fmtCmp(d, d.budget.value)}` : d.check ? d.checkLabel : undefined;
      row.comparisons[c] = { value: cmp, pass, budget, invalid };
    }
    rows.push(row);
  }
  return rows;
}

const fmtNum = (v, digits) =>
  typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—';

function fmtCmp(d, v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  if (d.compare === 'ratio') return `${v.toFixed(2)}×`;
  const sign = v > 0 ? '+' : v < 0 ? '−' : '±';
  return `${sign}${fmtNum(Math.abs(v), d.digits)}${d.unit && d.unit !== '%' ? ` ${d.unit}` : d.unit}`;
}

export function markdownTable(defs, rows, targetNames, baseline, candidates) {
  const defById = Object.fromEntries(defs.map((d) => [d.id, d]));
  const head = ['Metric', ...targetNames];
  for (const c of candidates) head.push(`${c} − ${baseline} (÷ for throughput)`, 'target', c === candidates[0] && candidates.length === 1 ? 'PASS/FAIL' : `${c} PASS/FAIL`);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ':---' : '---:')).join('|')}|`];
  for (const row of rows) {
    const d = defById[row.id];
    const cells = [row.label, ...targetNames.map((n) => fmtNum(row.values[n], d.digits))];
    for (const c of candidates) {
      const cmp = row.comparisons[c];
      cells.push(fmtCmp(d, cmp?.value), cmp?.budget ?? '', cmp?.invalid ? 'INVALID' : cmp?.pass === undefined ? (cmp?.budget ? 'n/a' : '') : cmp.pass ? 'PASS' : '**FAIL**');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
