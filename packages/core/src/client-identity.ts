import type { IncomingHttpHeaders } from 'node:http';

/**
 * Where the end user of a request may come from, in the order `clients.endUserFrom` lists:
 * - `litellm_metadata.user`: the gateway-only field LiteLLM clients send;
 * - `header`: the `clients.endUserHeader` request header (default `x-tollgate-end-user`);
 * - `metadata.user_id`: Anthropic's `metadata.user_id` when it is a plain string (not JSON);
 * - `account_uuid`: the `account_uuid` inside a JSON `metadata.user_id` (Claude Code's);
 * - `device_id`: the `device_id` inside a JSON `metadata.user_id` (one per machine).
 */
export type EndUserSource = 'litellm_metadata.user' | 'header' | 'metadata.user_id' | 'account_uuid' | 'device_id';

export const END_USER_SOURCES: readonly EndUserSource[] = ['litellm_metadata.user', 'header', 'metadata.user_id', 'account_uuid', 'device_id'];

/** The default precedence: explicit gateway fields first, then what the client says about itself. */
export const DEFAULT_END_USER_FROM: readonly EndUserSource[] = ['litellm_metadata.user', 'header', 'metadata.user_id', 'account_uuid'];

/** The coding session, agent and client program a request came from (Claude Code and the like). */
export interface ClientInfo {
  /** `x-claude-code-session-id`, else the `session_id` of a JSON `metadata.user_id`. */
  sessionId?: string;
  /** `x-claude-code-agent-id` (a sub-agent's requests). */
  agentId?: string;
  /** The first product of the user-agent, e.g. `claude-cli/2.1.328`. */
  client?: string;
}

export interface IdentityInput {
  headers: IncomingHttpHeaders;
  /** `metadata.user_id` as the body gave it (any JSON value). */
  userId?: unknown;
  /** `litellm_metadata.user`, already checked to be a string. */
  litellmUser?: string;
}

export interface IdentityOptions {
  endUserHeader: string;
  endUserFrom: readonly EndUserSource[];
}

/** What the identity of a request resolved to. */
export interface ClientIdentity extends ClientInfo {
  endUser?: string;
}

/** Longest identifier kept; a longer one is not an id any client sends, and is dropped. */
const MAX_ID = 200;

/**
 * Resolves the end user, session, agent and client program of a request. The end user is the
 * first non-empty value in `endUserFrom`'s order, and never a JSON document: a JSON
 * `metadata.user_id` (Claude Code sends `{"device_id":…,"account_uuid":…,"session_id":…}`)
 * is read for its fields instead.
 *
 * @example
 * resolveClientIdentity(
 *   { headers: { 'user-agent': 'claude-cli/2.1.328 (external, sdk-cli)' }, userId: '{"device_id":"d1","account_uuid":"a1","session_id":"s1"}' },
 *   { endUserHeader: 'x-tollgate-end-user', endUserFrom: DEFAULT_END_USER_FROM },
 * ); // { endUser: 'a1', sessionId: 's1', agentId: undefined, client: 'claude-cli/2.1.328' }
 */
export function resolveClientIdentity(input: IdentityInput, opts: IdentityOptions): ClientIdentity {
  const { headers } = input;
  const parsed = parseUserId(input.userId);
  const from: Record<EndUserSource, () => string | undefined> = {
    'litellm_metadata.user': () => nonEmpty(input.litellmUser),
    header: () => id(headers[opts.endUserHeader]),
    'metadata.user_id': () => parsed.plain,
    account_uuid: () => parsed.accountUuid,
    device_id: () => parsed.deviceId,
  };
  let endUser: string | undefined;
  for (const source of opts.endUserFrom) {
    endUser = from[source]();
    if (endUser !== undefined) break;
  }
  return {
    endUser,
    sessionId: id(headers['x-claude-code-session-id']) ?? parsed.sessionId,
    agentId: id(headers['x-claude-code-agent-id']),
    client: clientProduct(headers['user-agent']),
  };
}

interface ParsedUserId {
  /** A plain string user id (not a JSON document). */
  plain?: string;
  deviceId?: string;
  accountUuid?: string;
  sessionId?: string;
}

function parseUserId(value: unknown): ParsedUserId {
  if (typeof value !== 'string') return {};
  const trimmed = value.trim();
  if (!trimmed.startsWith('{')) return { plain: nonEmpty(value) };
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    // Looks like JSON but is not: still never booked as an end user.
    return {};
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return {};
  const d = doc as Record<string, unknown>;
  return { deviceId: id(d.device_id), accountUuid: id(d.account_uuid), sessionId: id(d.session_id) };
}

/** `claude-cli/2.1.328 (external, sdk-cli)` → `claude-cli/2.1.328`. */
function clientProduct(userAgent: string | string[] | undefined): string | undefined {
  const ua = id(userAgent);
  if (ua === undefined) return undefined;
  const space = ua.search(/\s/);
  return space === -1 ? ua : ua.slice(0, space);
}

/** A short, non-empty string id; anything else (arrays: the first value) is absent. */
function id(value: unknown): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t.length > 0 && t.length <= MAX_ID ? t : undefined;
}

const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s.trim() === '' ? undefined : s);
