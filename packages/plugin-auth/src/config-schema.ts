/**
 * The `auth` plugin's options (under `plugins[].config`).
 *
 * @example
 * // plugins:
 * //   - use: '@tollgate/plugin-auth'
 * //     config: { masterKey: '${TOLLGATE_MASTER_KEY}' }
 */
export const authConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    masterKey: {
      type: ['string', 'null'],
      minLength: 1,
      default: null,
      description:
        'The master key clients must send (x-api-key or Authorization: Bearer) on /anthropic/*. ' +
        'Null: env TOLLGATE_MASTER_KEY, then env LITELLM_MASTER_KEY; with none set the gateway is open to anyone who can reach it. ' +
        'Prefer ${TOLLGATE_MASTER_KEY} over a literal.',
    },
    cacheTtlMs: {
      type: 'integer',
      minimum: 0,
      default: 30000,
      description: "How long a key lookup is kept in memory. This instance's own key changes apply at once; another replica's show within this time.",
    },
    cacheSize: { type: 'integer', minimum: 1, default: 100000, description: 'Most keys (known and unknown) kept in the lookup cache.' },
    lookupTimeoutMs: {
      type: 'integer',
      minimum: 1,
      default: 5000,
      description: 'Longest a key lookup (a cache miss) may wait for the database before the request gets 503; a stalled database must not hang requests.',
    },
    sharedLimits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Rate limits (requests and tokens per minute, requests in flight) and budgets shared between replicas, through Redis (key changes too) or else through the PostgreSQL store: ' +
        'each admission of a key with a limit or a budget is decided by one atomic Redis script or PostgreSQL function call. While the store cannot be reached, each replica counts on its own (warned once) rather than refusing traffic.',
      properties: {
        redisUrl: {
          type: ['string', 'null'],
          pattern: '^rediss?://',
          default: null,
          description: 'redis:// or rediss:// URL. Null: env TOLLGATE_REDIS_URL; with neither, limits are shared through PostgreSQL (postgres), else each replica counts on its own.',
        },
        postgres: {
          type: 'boolean',
          default: true,
          description:
            'Without Redis, on a PostgreSQL store: decide limits and budgets in PostgreSQL (one function call per admission of a limited or budgeted key). ' +
            "false: each replica counts its limits on its own, and budgets read every replica's committed spend at most the cost plugin's sharedSpend.syncMs ago. Ignored on SQLite (one process).",
        },
        postgresPoolSize: {
          type: 'integer',
          minimum: 1,
          default: 4,
          description: "Connections of the pool the PostgreSQL limits use, apart from the storage's pool (so admissions never queue behind ledger writes).",
        },
        commandTimeoutMs: {
          type: 'integer',
          minimum: 1,
          default: 500,
          description:
            "Longest a Redis command or PostgreSQL limits call may take (PostgreSQL: waiting for a connection included, and the server's statement_timeout); past it the request is decided on local counts, so a stalled store never hangs requests.",
        },
        retryMs: {
          type: 'integer',
          minimum: 1,
          default: 1000,
          description: 'After a failed Redis or PostgreSQL limits call, how long this replica counts on its own before it tries again (no request waits on a store that is down).',
        },
        slotTtlMs: {
          type: 'integer',
          minimum: 100,
          default: 30000,
          description: "How long a max_parallel_requests slot outlives its replica: a live replica renews its slots every third of this; a crashed one's expire.",
        },
        keyPrefix: { type: 'string', default: 'tollgate:', description: 'Prepended to every Redis key (several gateways on one Redis).' },
      },
    },
    staleIfErrorMs: {
      type: 'integer',
      minimum: 0,
      default: 600000,
      description:
        'When the database fails or stalls, a known key whose cache entry has expired is still accepted, as last loaded, for up to this long after that load (0: never). ' +
        'A key blocked or deleted on another replica during the outage stays usable here that long.',
    },
  },
} as const;

/** The validated `auth` config, defaults applied. */
export interface AuthConfig {
  masterKey: string | null;
  cacheTtlMs: number;
  cacheSize: number;
  lookupTimeoutMs: number;
  staleIfErrorMs: number;
  sharedLimits: { redisUrl: string | null; postgres: boolean; postgresPoolSize: number; commandTimeoutMs: number; retryMs: number; slotTtlMs: number; keyPrefix: string };
}
