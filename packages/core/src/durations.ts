const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION = /^(\d+)\s*(s|m|h|d|w|mo)$/;

/**
 * Parses LiteLLM-style durations: `30s`, `15m`, `1h`, `1d`, `2w`, `30d`, `1mo` (calendar months).
 * Returns undefined for anything else.
 *
 * @example
 * parseDuration('1h'); // { months: 0, ms: 3600000 }
 */
export function parseDuration(text: string): { months: number; ms: number } | undefined {
  const m = DURATION.exec(text.trim());
  if (!m || Number(m[1]) === 0) return undefined;
  const n = Number(m[1]);
  return m[2] === 'mo' ? { months: n, ms: 0 } : { months: 0, ms: n * UNIT_MS[m[2] as keyof typeof UNIT_MS] };
}

/**
 * `from` plus a duration; months are calendar months (UTC), clamped to the month's last day.
 *
 * @example
 * addDuration(Date.UTC(2026, 0, 31), parseDuration('1mo')!); // 2026-02-28T00:00Z
 */
export function addDuration(from: number, d: { months: number; ms: number }): number {
  if (d.months === 0) return from + d.ms;
  const date = new Date(from);
  const day = date.getUTCDate();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() + d.months);
  const last = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  date.setUTCDate(Math.min(day, last));
  return date.getTime();
}

/**
 * The first window boundary after `now`, stepping from `start` by the duration.
 *
 * @example
 * nextBoundary(0, parseDuration('1h')!, 5_400_000); // 7_200_000
 */
export function nextBoundary(start: number, d: { months: number; ms: number }, now: number): number {
  if (d.months === 0) return start + (Math.floor((now - start) / d.ms) + 1) * d.ms;
  let t = start;
  while (t <= now) t = addDuration(t, d);
  return t;
}

/**
 * The window `now` falls in, stepping from `start` by the duration: `[start, end)`.
 *
 * @example
 * windowAt(0, parseDuration('1h')!, 5_400_000); // { start: 3_600_000, end: 7_200_000 }
 */
export function windowAt(start: number, d: { months: number; ms: number }, now: number): { start: number; end: number } {
  if (now < start) return { start, end: addDuration(start, d) };
  if (d.months === 0) {
    const end = nextBoundary(start, d, now);
    return { start: end - d.ms, end };
  }
  let from = start;
  let to = addDuration(from, d);
  while (to <= now) [from, to] = [to, addDuration(to, d)];
  return { start: from, end: to };
}
