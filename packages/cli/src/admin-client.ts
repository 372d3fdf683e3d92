/** One request to the gateway's `/key/*` admin API. */
export interface AdminCall {
  method: 'GET' | 'POST';
  /** e.g. `/key/list` */
  path: string;
  query?: Record<string, string>;
  /** Sent as JSON. */
  body?: Record<string, unknown>;
}

/** Which gateway to ask, and with which master key. */
export interface AdminTarget {
  /** Base URL, e.g. `http://localhost:4000`; a path prefix (behind a proxy) is kept. */
  url: string;
  masterKey: string;
  /** How long to wait for the answer. Default: 30000. */
  timeoutMs?: number;
}

/**
 * The gateway answered with an error; the message reads `404 not_found_error: no such key`.
 *
 * @example
 * if (err instanceof AdminApiError && err.status === 404) …
 */
export class AdminApiError extends Error {
  override readonly name = 'AdminApiError';

  constructor(
    readonly status: number,
    readonly type: string,
    detail: string,
  ) {
    super(`${status} ${type}: ${detail}`);
  }
}

/**
 * No answer from the gateway: refused, unknown host, timed out, or the connection broke.
 *
 * @example
 * if (err instanceof GatewayUnreachableError) process.exitCode = 1;
 */
export class GatewayUnreachableError extends Error {
  override readonly name = 'GatewayUnreachableError';
}

/**
 * Makes one admin call and resolves with the parsed JSON answer. Rejects with an
 * `AdminApiError` for an error status and a `GatewayUnreachableError` when nothing answers.
 * The master key goes in the `Authorization` header and in no message.
 *
 * @example
 * await callAdminApi({ method: 'GET', path: '/key/info', query: { key } }, { url, masterKey });
 */
export async function callAdminApi(call: AdminCall, target: AdminTarget): Promise<unknown> {
  const base = target.url.replace(/\/+$/, '');
  const search = call.query ? `?${new URLSearchParams(call.query)}` : '';
  const headers: Record<string, string> = { authorization: `Bearer ${target.masterKey}`, accept: 'application/json' };
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  let status: number;
  let text: string;
  try {
    const res = await fetch(`${base}${call.path}${search}`, {
      method: call.method,
      headers,
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: AbortSignal.timeout(target.timeoutMs ?? 30_000),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    throw unreachable(err, base, target.timeoutMs ?? 30_000);
  }
  const answer = parseJson(text);
  if (status >= 200 && status < 300) {
    if (answer === undefined) throw new AdminApiError(status, 'invalid_response', `${call.method} ${base}${call.path} did not answer with JSON; is ${base} a Tollgate gateway?`);
    return answer;
  }
  const error = (answer as { error?: { type?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof error?.type === 'string' && typeof error.message === 'string') throw new AdminApiError(status, error.type, error.message);
  throw new AdminApiError(status, 'http_error', `${call.method} ${base}${call.path} did not answer with an API error; is ${base} a Tollgate gateway?`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function unreachable(err: unknown, base: string, timeoutMs: number): GatewayUnreachableError {
  if ((err as Error).name === 'TimeoutError') return new GatewayUnreachableError(`the gateway at ${base} did not answer within ${timeoutMs} ms`);
  const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
  const reason = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message;
  return new GatewayUnreachableError(`cannot reach the gateway at ${base} (${reason}); is it running? Set its address with --url or TOLLGATE_URL`);
}
