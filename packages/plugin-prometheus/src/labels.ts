import type { CompletionRecord } from '@tollgate/core';

/** Label values by name. Absent values are '' (Prometheus reads an empty label as no label). */
export type Labels = Record<string, string>;

/** Who and what a request was for: on every per-request metric. */
export const PRINCIPAL_LABELS = ['model', 'key_hash', 'key_alias', 'user', 'team'] as const;

/** Characters of the key's SHA-256 shown: enough to tell keys apart, as in the access log. */
const KEY_HASH_CHARS = 12;

/**
 * The principal labels of a record, with `end_user` when end-user labels are on. A fresh
 * object each call: prom-client keeps the object it is given for a new series.
 */
export function principalLabels(r: CompletionRecord, endUser: boolean): Labels {
  const p = r.principal;
  const labels: Labels = {
    model: r.model ?? '',
    key_hash: p?.keyHash?.slice(0, KEY_HASH_CHARS) ?? '',
    key_alias: p?.keyAlias ?? '',
    user: p?.userId ?? '',
    team: p?.teamId ?? '',
  };
  if (endUser) labels.end_user = r.endUser ?? '';
  return labels;
}

/**
 * The principal labels' values (without the end user) as one series key (length-prefixed, so
 * unambiguous); `lp(endUser)` appended makes the key with the end user. Built once per record.
 */
export function principalKey(r: CompletionRecord): string {
  const p = r.principal;
  return lp(r.model ?? '') + lp(p?.keyHash?.slice(0, KEY_HASH_CHARS) ?? '') + lp(p?.keyAlias ?? '') + lp(p?.userId ?? '') + lp(p?.teamId ?? '');
}

/** Length-prefixed: `lp(a) + lp(b)` tells every (a, b) apart. */
export const lp = (v: string): string => `${v.length}:${v}`;

/** The short key hash used as the `key_hash` label. */
export function keyHashLabel(keyHash: string): string {
  return keyHash.slice(0, KEY_HASH_CHARS);
}

// Anthropic's error type for each status it documents, for upstream errors relayed as they came.
const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/**
 * Why a request failed, or undefined when it did not: the gateway's own error (its type and
 * `TG_ERR_*` code), a client that went away (`aborted`), or an upstream error status relayed
 * unchanged (the type Anthropic uses for that status, code `upstream`).
 */
export function failureOf(r: CompletionRecord): { error_type: string; error_code: string } | undefined {
  if (r.error) return { error_type: r.error.type, error_code: r.error.code };
  if (r.aborted) return { error_type: 'aborted', error_code: 'aborted' };
  if (r.status < 400) return undefined;
  return { error_type: TYPE_BY_STATUS[r.status] ?? (r.status < 500 ? 'invalid_request_error' : 'api_error'), error_code: 'upstream' };
}
