// Exact percentiles over recorded samples (sorted copy; nearest-rank), HDR-style summary.

/** Summary of `values` (ms) — count, mean, p50, p90, p99, p99.9, max — rounded to µs. */
export function summarize(values, count = values.length) {
  const a = Float64Array.from(values.subarray ? values.subarray(0, count) : values.slice(0, count)).sort();
  const n = a.length;
  if (n === 0) return { count: 0 };
  const at = (q) => a[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i];
  const r = (x) => Math.round(x * 1000) / 1000;
  return { count: n, mean: r(sum / n), min: r(a[0]), p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), p999: r(at(0.999)), max: r(a[n - 1]) };
}

export function median(xs) {
  const a = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((p, q) => p - q);
  if (a.length === 0) return undefined;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}
