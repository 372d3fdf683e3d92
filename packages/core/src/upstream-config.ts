import { GatewayError } from './errors.js';

/** One upstream of a provider's pool, as configured. */
export interface UpstreamConfig {
  name: string;
  baseUrl: string;
  apiKey?: string;
  weight: number;
  models?: string[];
  maxConcurrency: number | null;
  rpm: number | null;
  tpm: number | null;
  headers: Record<string, string>;
}

/** How the pool retries and how long it keeps an upstream out of rotation. */
export interface FailoverConfig {
  maxAttempts: number;
  maxRetryMs: number;
  affinity: boolean;
  cooldownMs: number;
  maxCooldownMs: number;
  breakerFailures: number;
  breakerOpenMs: number;
  authFailureMs: number;
  minHeadroom: number;
  redisUrl: string | null;
  redisKeyPrefix: string;
}

const limit = (what: string) => ({ type: ['integer', 'null'], minimum: 1, default: null, description: `${what}; null: no cap of the gateway's own.` });

export const upstreamListSchema = {
  type: 'array',
  minItems: 1,
  description:
    'A pool of upstreams (several keys, workspaces or organizations). Absent: one upstream named "default" from baseUrl/apiKey. Reloaded on SIGHUP without a restart.',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Shown in the ledger, metrics, logs and /health/upstreams (never the key).' },
      baseUrl: { type: 'string', pattern: '^https?://', description: 'Upstream base URL. Default: the provider baseUrl (env ANTHROPIC_BASE_URL, else https://api.anthropic.com).' },
      apiKey: { type: 'string', minLength: 1, description: 'This upstream key, sent as x-api-key (use ${ENV}). Never logged.' },
      weight: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'Share of sessions this upstream gets relative to the others.' },
      models: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Only these models go here. Default: every model.' },
      maxConcurrency: limit('Most requests in flight on this upstream'),
      rpm: limit('Most requests a minute to this upstream'),
      tpm: limit('Most tokens (input + output) a minute through this upstream'),
      headers: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Extra request headers for this upstream, e.g. anthropic-workspace-id.' },
    },
  },
} as const;

export const failoverSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Failover between the upstreams of the pool (only used with two or more).',
  properties: {
    maxAttempts: { type: 'integer', minimum: 1, default: 3, description: 'Most upstreams one request is sent to (1: no failover).' },
    maxRetryMs: { type: 'integer', minimum: 0, default: 30000, description: 'No retry starts later than this after the first attempt started.' },
    affinity: { type: 'boolean', default: true, description: 'Keep each session on one upstream (prompt caches live per organization/workspace); false: weighted random.' },
    cooldownMs: { type: 'integer', minimum: 1, default: 1000, description: 'Cooldown after a 429/529 without retry-after; doubles on each one in a row.' },
    maxCooldownMs: { type: 'integer', minimum: 1, default: 60000, description: 'Longest cooldown (retry-after included).' },
    breakerFailures: { type: 'integer', minimum: 1, default: 5, description: 'Failures in a row (5xx, connection error, timeout) that open the circuit.' },
    breakerOpenMs: { type: 'integer', minimum: 1, default: 30000, description: 'How long an open circuit stays open before one probe request is let through.' },
    authFailureMs: { type: 'integer', minimum: 1, default: 300000, description: 'How long an upstream that answered 401/402/403 stays out before a probe.' },
    minHeadroom: { type: 'number', minimum: 0, maximum: 1, default: 0.05, description: 'Below this share of its rate limit left (anthropic-ratelimit-* headers) an upstream is used only when no other is.' },
    redisUrl: { type: ['string', 'null'], pattern: '^rediss?://', default: null, description: 'Share cooldowns between replicas. Null: env TOLLGATE_REDIS_URL; with neither, each replica keeps its own.' },
    redisKeyPrefix: { type: 'string', default: 'tollgate:', description: 'Prefix of the Redis keys and channel.' },
  },
} as const;

/**
 * The pool a provider config describes: its `upstreams`, or one upstream named `default` from
 * the `baseUrl`/`apiKey` shorthand. Throws TG_ERR_CONFIG for duplicate names or for both forms.
 *
 * @example
 * upstreamList({ baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-…' })[0].name; // 'default'
 */
export function upstreamList(c: { baseUrl?: string; apiKey?: string; upstreams?: UpstreamConfig[] }, explicitShorthand = false): UpstreamConfig[] {
  const base = c.baseUrl ?? 'https://api.anthropic.com';
  if (!c.upstreams) return [{ name: 'default', baseUrl: base, apiKey: c.apiKey, weight: 1, maxConcurrency: null, rpm: null, tpm: null, headers: {} }];
  if (explicitShorthand) throw new GatewayError('TG_ERR_CONFIG', 'invalid config: providers.anthropic: give either apiKey or upstreams, not both');
  const seen = new Set<string>();
  for (const u of c.upstreams) {
    if (seen.has(u.name)) throw new GatewayError('TG_ERR_CONFIG', `invalid config: providers.anthropic.upstreams: the name "${u.name}" is used twice`);
    seen.add(u.name);
  }
  return c.upstreams.map((u) => ({ ...u, baseUrl: u.baseUrl ?? base }));
}
