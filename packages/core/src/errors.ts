import { invalidHeader, isSendableStatus } from './http-headers.js';

/** Stable error codes. Each maps to one HTTP status and one Anthropic-style error type. */
export const ERROR_CODES = {
  TG_ERR_BAD_REQUEST: [400, 'invalid_request_error'],
  TG_ERR_INVALID_JSON: [400, 'invalid_request_error'],
  TG_ERR_BAD_PATH: [400, 'invalid_request_error'],
  TG_ERR_AUTH_MISSING_KEY: [401, 'authentication_error'],
  TG_ERR_AUTH_INVALID_KEY: [401, 'authentication_error'],
  TG_ERR_AUTH_KEY_BLOCKED: [401, 'authentication_error'],
  TG_ERR_AUTH_KEY_EXPIRED: [401, 'authentication_error'],
  TG_ERR_FORBIDDEN: [403, 'permission_error'],
  TG_ERR_MODEL_NOT_ALLOWED: [403, 'permission_error'],
  TG_ERR_END_USER_BLOCKED: [403, 'permission_error'],
  TG_ERR_NOT_FOUND: [404, 'not_found_error'],
  TG_ERR_METHOD_NOT_ALLOWED: [405, 'invalid_request_error'],
  TG_ERR_BODY_TOO_LARGE: [413, 'request_too_large'],
  TG_ERR_UNSUPPORTED_ENCODING: [415, 'invalid_request_error'],
  TG_ERR_RATE_LIMITED: [429, 'rate_limit_error'],
  TG_ERR_BUDGET_EXCEEDED: [429, 'rate_limit_error'],
  TG_ERR_INTERNAL: [500, 'api_error'],
  // A plugin set a header (or status) HTTP cannot carry: CR/LF in a value, a bad name.
  TG_ERR_BAD_HEADER: [500, 'api_error'],
  TG_ERR_UPSTREAM_UNREACHABLE: [502, 'api_error'],
  TG_ERR_UPSTREAM_FAILED: [502, 'api_error'],
  TG_ERR_UNAVAILABLE: [503, 'api_error'],
  TG_ERR_LEDGER_UNAVAILABLE: [503, 'api_error'],
  TG_ERR_UPSTREAM_TIMEOUT: [504, 'timeout_error'],
  TG_ERR_SHUTTING_DOWN: [503, 'overloaded_error'],
  TG_ERR_OVERLOADED: [503, 'overloaded_error'],
  // An `error` event inside an upstream stream: reported in-band, recorded, never a status.
  TG_ERR_UPSTREAM_STREAM: [502, 'api_error'],
  // Boot-time errors: never sent on the wire.
  TG_ERR_CONFIG: [500, 'api_error'],
  TG_ERR_PLUGIN: [500, 'api_error'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface GatewayErrorOptions {
  /** Override the status the code maps to. */
  status?: number;
  /** Override the Anthropic error type the code maps to. */
  type?: string;
  /** Extra response headers, e.g. `retry-after`. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * The one error type the gateway throws. Its `code` is stable; the wire shape is decided in
 * one place (`errorBody`).
 *
 * @example
 * throw new GatewayError('TG_ERR_AUTH_INVALID_KEY', 'invalid api key');
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code][0];
    this.type = options.type ?? ERROR_CODES[code][1];
    this.headers = options.headers;
  }
}

/**
 * Converts anything thrown into a GatewayError; unknown errors become a generic 500 whose
 * message never leaks internals.
 *
 * @example
 * const gwErr = toGatewayError(new Error('boom')); // TG_ERR_INTERNAL, 500
 */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('TG_ERR_INTERNAL', 'internal gateway error', { cause: err });
}

/**
 * The error as it can go on the wire: itself, or, when a plugin gave it a header HTTP cannot
 * carry (CR/LF in a value, say) or a status outside 100-999, a TG_ERR_BAD_HEADER 500 whose
 * cause is the original. Writing the original would throw inside `writeHead`.
 *
 * @example
 * sendable(new GatewayError('TG_ERR_FORBIDDEN', 'no', { headers: { 'x-why': 'a\r\nb' } })).code; // 'TG_ERR_BAD_HEADER'
 */
export function sendable(err: GatewayError): GatewayError {
  const bad = invalidHeader(err.headers);
  if (bad === undefined && isSendableStatus(err.status)) return err;
  const what = bad === undefined ? `status ${JSON.stringify(err.status)}` : `header ${JSON.stringify(bad)}`;
  return new GatewayError('TG_ERR_BAD_HEADER', `an error raised inside the gateway had an invalid ${what}`, { cause: err });
}

/**
 * The Anthropic error body: `{"type":"error","error":{"type":…,"message":…},"request_id":…}`.
 *
 * @example
 * errorBody(new GatewayError('TG_ERR_NOT_FOUND', 'no such route'), 'req_1');
 */
export function errorBody(err: GatewayError, requestId?: string): string {
  const body: Record<string, unknown> = { type: 'error', error: { type: err.type, message: err.message } };
  if (requestId !== undefined) body.request_id = requestId;
  return JSON.stringify(body);
}
