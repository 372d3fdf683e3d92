import { createHash } from 'node:crypto';
import { GatewayError } from '@tollgate/core';

/** A window on a row's start time, epoch ms: `from` inclusive, `to` exclusive. */
export interface TimeRange {
  from?: number;
  to?: number;
}

/** Which slice of a list to return; 1-based page. */
export interface Paging {
  page: number;
  pageSize: number;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const KEY_HASH = /^[0-9a-f]{64}$/;

/**
 * The query parameters of a report, each given at most once and not empty. Anything not in
 * `allowed` is refused: a misspelt filter must not silently widen a report.
 */
export function readParams(query: URLSearchParams, allowed: readonly string[]): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of query) {
    if (!allowed.includes(name)) throw badParam(`unknown query parameter ${name} (expected one of ${allowed.join(', ')})`);
    if (params.has(name)) throw badParam(`query parameter ${name} is given more than once`);
    if (value === '') throw badParam(`query parameter ${name} is empty`);
    params.set(name, value);
  }
  return params;
}

/**
 * `start_date` / `end_date` as a time range. A date alone is a whole UTC day (so `end_date`
 * includes all of it); a datetime without a zone is UTC.
 */
export function timeRange(params: Map<string, string>): TimeRange {
  const start = params.get('start_date');
  const end = params.get('end_date');
  const range: TimeRange = {};
  if (start !== undefined) range.from = instant('start_date', start, 'start');
  if (end !== undefined) range.to = instant('end_date', end, 'end');
  if (range.from !== undefined && range.to !== undefined && range.from >= range.to) {
    throw badParam(`end_date (${end}) is before start_date (${start})`);
  }
  return range;
}

/** `page` / `page_size`, or undefined when neither is given (the caller returns a plain list). */
export function paging(params: Map<string, string>): Paging | undefined {
  const page = params.get('page');
  const size = params.get('page_size');
  if (page === undefined && size === undefined) return undefined;
  return {
    page: page === undefined ? 1 : integer('page', page, 1, Number.MAX_SAFE_INTEGER),
    pageSize: size === undefined ? DEFAULT_PAGE_SIZE : integer('page_size', size, 1, MAX_PAGE_SIZE),
  };
}

/**
 * The hash a key is stored under: a 64-hex token as given, anything else (the secret `sk-…`)
 * hashed with SHA-256, as the auth plugin does.
 */
export function keyHashOf(keyOrHash: string): string {
  return KEY_HASH.test(keyOrHash) ? keyOrHash : createHash('sha256').update(keyOrHash).digest('hex');
}

export function badParam(message: string): GatewayError {
  return new GatewayError('TG_ERR_BAD_REQUEST', message);
}

function instant(name: string, text: string, edge: 'start' | 'end'): number {
  const date = DATE.exec(text);
  if (date) {
    const day = validDay(date[0]);
    if (day === undefined) throw badDate(name, text);
    return edge === 'start' ? day : day + 86_400_000;
  }
  const dt = DATETIME.exec(text);
  if (!dt || validDay(dt[1]) === undefined) throw badDate(name, text);
  const t = Date.parse(dt[2] ? text : `${text}Z`);
  if (Number.isNaN(t)) throw badDate(name, text);
  // An end instant is inclusive; the range's `to` is exclusive.
  return edge === 'start' ? t : t + 1;
}

/** Epoch ms of a real calendar day at 00:00 UTC (2024-02-30 is not one). */
function validDay(text: string): number | undefined {
  const t = Date.parse(`${text}T00:00:00Z`);
  return Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== text ? undefined : t;
}

function badDate(name: string, text: string): GatewayError {
  return badParam(`${name} must be an ISO date (2025-01-31) or datetime (2025-01-31T12:00:00Z), got ${JSON.stringify(text)}`);
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badParam(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}
