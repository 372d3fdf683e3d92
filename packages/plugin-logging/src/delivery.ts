/** A failed delivery attempt; `retryable` says whether another attempt can help. */
export class DeliveryError extends Error {
  readonly retryable: boolean;
  /** The receiver's Retry-After, in milliseconds, when it sent one. */
  readonly retryAfterMs?: number;

  constructor(message: string, options: { retryable: boolean; retryAfterMs?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'DeliveryError';
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Request timeouts, throttling and server errors are worth retrying; other 4xx are not. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * POSTs a JSON payload and resolves with the response text on a 2xx. Network errors and
 * timeouts are retryable DeliveryErrors, and so are 408, 429 and 5xx; other statuses are not.
 */
export async function postJson(url: string, payload: string, options: { headers: Record<string, string>; timeoutMs: number; signal: AbortSignal }): Promise<string> {
  // One controller per attempt, unhooked afterwards: AbortSignal.any on the long-lived stop
  // signal has leaked in several Node releases.
  const attempt = new AbortController();
  const onStop = () => attempt.abort(options.signal.reason);
  options.signal.addEventListener('abort', onStop, { once: true });
  const timer = setTimeout(() => attempt.abort(new DOMException('timed out', 'TimeoutError')), options.timeoutMs);
  timer.unref();
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...options.headers }, body: payload, signal: attempt.signal });
    text = await res.text();
  } catch (err) {
    throw new DeliveryError(`POST ${safeUrl(url)} failed: ${describe(err)}`, { retryable: true, cause: err });
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onStop);
  }
  if (res.ok) return text;
  throw new DeliveryError(`POST ${safeUrl(url)} answered ${res.status}: ${text.slice(0, 200)}`, {
    retryable: isRetryableStatus(res.status),
    retryAfterMs: retryAfterMs(res.headers.get('retry-after')),
  });
}

/** Exponential backoff with jitter: attempt 1 waits about `baseMs`, each later one twice as long. */
export function backoffMs(retry: number, baseMs: number, maxMs: number, hintMs?: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** (retry - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.min(maxMs, Math.max(jittered, hintMs ?? 0));
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The URL without credentials or query (which may hold tokens), for logs. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  if (e?.name === 'AbortError') return 'aborted';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
