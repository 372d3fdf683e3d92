import type { ReconcileConfig } from './reconcile.js';

/** The `cost` plugin's options. */
export const costConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    prices: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Price overrides on top of the shipped Anthropic price book.',
      properties: {
        models: {
          type: 'object',
          default: {},
          description: 'Per model id, the shipped file\'s shape ({ aliases?, prices: [{ effective_from?, input, output, … }] }): a new id adds a model, a known id gets these rows instead (negotiated rates).',
        },
        files: {
          type: 'array',
          items: { type: 'string' },
          default: [],
          description: 'Extra price files (JSON or YAML, the shipped file\'s shape), relative to the config file, merged in order before `models`. Re-read on every reload.',
        },
        url: {
          type: 'string',
          description: 'A price file (JSON or YAML, the shipped file\'s shape) fetched over HTTPS (plain http only to localhost), merged after `files` and before `models`; re-read on every reload. Default: none.',
        },
        reloadEveryMs: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description: 'Re-read the price sources this often (e.g. 3600000 for hourly); 0: only on SIGHUP and `tollgate prices reload`. A reload that fails keeps the prices in force and logs why.',
        },
        fetchTimeoutMs: { type: 'integer', minimum: 100, default: 10000, description: 'Longest wait for `url`.' },
      },
    },
    ledger: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How spend rows reach the database.',
      properties: {
        flushIntervalMs: { type: 'integer', minimum: 1, default: 250, description: 'Longest a row waits in memory before it is written (also the most a hard crash can lose).' },
        batchSize: { type: 'integer', minimum: 1, maximum: 5000, default: 500, description: 'Rows per database write (one transaction; an SQLite file is written on a worker thread). Under load, full batches go at once; fewer rows wait for the flush interval.' },
        maxBatchSize: {
          type: 'integer',
          minimum: 1,
          maximum: 20000,
          default: 2000,
          description:
            'Most rows per database write while the writer is behind (more than batchSize rows wait, or a spool is replayed): it catches up in fewer, larger transactions. Never below batchSize.',
        },
        writeConnections: {
          type: 'integer',
          minimum: 1,
          maximum: 16,
          default: 2,
          description:
            'PostgreSQL with rows: all: a write of 500 rows or more goes in as up to this many transactions at once, on as many connections, split by key (each key\'s rows in one of them), so the database works on it with as many cores. Takes connections from the storage pool (storage.poolSize). 1: one transaction per write. SQLite always writes one at a time.',
        },
        maxRetryMs: { type: 'integer', minimum: 10, default: 30000, description: 'Longest pause between retries while the database fails.' },
        spoolFile: { type: 'string', description: 'Where rows wait on disk while the database is down. Default: spend-spool.jsonl in the storage plugin\'s dataDir.' },
        writeTimeoutMs: {
          type: 'integer',
          minimum: 10,
          default: 10000,
          description: 'Longest a database write may take; then its rows go to the spool file (a late commit is harmless: writes are idempotent). Also bounds how long shutdown waits for a stalled database.',
        },
        maxQueuedRows: {
          type: 'integer',
          minimum: 1,
          default: 50000,
          description: 'Most rows kept in memory (about 1 KB each) while neither the database nor the spool file can take them (a full disk); past it, see whenFull.',
        },
        whenFull: {
          enum: ['refuse', 'serve'],
          default: 'refuse',
          description: "Past maxQueuedRows: 'refuse' requests with a 503 (TG_ERR_LEDGER_UNAVAILABLE), so no spend goes unrecorded; 'serve' them and drop their rows, counted in /spend/queue `lost` and tollgate_spend_rows_lost_total.",
        },
        rows: {
          enum: ['all', 'errors', 'none'],
          default: 'all',
          description:
            "Which requests get a row of their own: all (default; /spend/logs shows every request), errors (failures, aborts and unpriced requests only: the writer does less, /spend/logs shows only those, and reports take whole UTC days), none (no rows but those of Message Batches, which settling needs). Rows of batches are always kept. Rollups and running totals count every request either way.",
        },
        rollups: {
          type: 'boolean',
          default: true,
          description: 'Keep daily rollups (per day × key × user × team × model, and smaller ones per day × key, model, user, team, end user and tag), written with the rows in one transaction. Reports, /customer/info and the budgets\' totals read them instead of scanning rows. Off: reports scan the rows (needs rows: all).',
        },
        retentionDays: {
          type: ['integer', 'null'],
          minimum: 1,
          default: null,
          description: 'Drop rows older than this many days (PostgreSQL: whole daily partitions; SQLite: batched deletes off the request path). null keeps them for ever. Rollups are not touched.',
        },
        rollupRetentionDays: {
          type: ['integer', 'null'],
          minimum: 1,
          default: null,
          description: 'Fold rollup days older than this into one all-time row per group (day 0, 1970-01-01), so budgets and all-time totals stay exact while the per-day detail goes. null keeps every day.',
        },
        maintenanceEveryMs: {
          type: 'integer',
          minimum: 0,
          default: 3600000,
          description: 'How often retention runs (and PostgreSQL daily partitions are made ahead); 0 turns it off.',
        },
      },
    },
    batches: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The background job that books the results of batches nobody fetches through the gateway (Anthropic bills them all the same).',
      properties: {
        settleEveryMs: {
          type: 'integer',
          minimum: 0,
          default: 300000,
          description: 'Pause between runs of the job, which asks the upstream about every unsettled batch created through the gateway; 0 turns it off (e.g. on every replica but one).',
        },
        lookbackDays: { type: 'integer', minimum: 1, maximum: 365, default: 30, description: 'How old a batch may be and still be settled (Anthropic keeps results for 29 days).' },
      },
    },
    sharedSpend: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Key and end-user budgets across replicas that share a PostgreSQL database (ignored on SQLite).',
      properties: {
        syncMs: {
          type: 'integer',
          minimum: 0,
          default: 1000,
          description:
            "How old every replica's committed spend for a key may be when its budget is checked: older, it is read again first (one query on that request's path). " +
            'Also how often each replica reloads the end users with a budget or a block, and their committed spend in the budget window. ' +
            '0 turns both off (each replica then counts only its own spend since start). With shared counters (auth sharedLimits: Redis, or PostgreSQL itself) key budgets are decided there and this read only seeds the counter.',
        },
      },
    },
    reconcile: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: "Reconciliation of the ledger with Anthropic's cost report (Admin API), by `tollgate spend reconcile` and an optional job.",
      properties: {
        adminKey: { type: 'string', pattern: '^\\S+$', description: 'Anthropic Admin API key (sk-ant-admin…). Default: env ANTHROPIC_ADMIN_KEY.' },
        apiKeyIds: {
          type: 'object',
          default: {},
          additionalProperties: { type: 'string', pattern: '^\\S+$' },
          description:
            "Upstream name (providers.anthropic.upstreams[].name; any one name with the apiKey shorthand) → its Anthropic API key id (apikey_…, from the Console or the Admin API's /v1/organizations/api_keys). Only these keys' costs are compared, each upstream's ledger rows against its key.",
        },
        thresholdUsd: { type: 'string', pattern: '^\\d+(\\.\\d{1,12})?$', default: '0.01', description: 'Flag a day × model × key whose drift exceeds this many USD (either way): a log line and tollgate_spend_drift_flagged.' },
        everyMs: { type: 'integer', minimum: 0, default: 0, description: 'Reconcile the last lookbackDays this often (86400000: daily); 0: only on demand.' },
        lookbackDays: { type: 'integer', minimum: 1, maximum: 31, default: 2, description: 'Days the scheduled reconciliation looks back over (Anthropic books costs with a delay).' },
      },
    },
    unpriced: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'What happens to usage the price book cannot price (a new model, a fast or geo option without a multiplier).',
      properties: {
        policy: {
          enum: ['refuse', 'estimate'],
          default: 'refuse',
          description:
            "refuse: a key or end user with a budget gets a 403 naming what has no price, before the request goes upstream (keys without a budget go through; their rows are unpriced until `tollgate spend reprice`). estimate: such requests go through and are booked at the dearest row of the model's family, flagged estimated until re-priced (a model of no known family is still refused).",
        },
      },
    },
    responseCostHeader: { type: 'boolean', default: true, description: 'Add x-tollgate-response-cost (USD) to non-streaming message responses.' },
  },
} as const;

export interface CostConfig {
  prices: { models: Record<string, unknown>; files: string[]; url?: string; reloadEveryMs: number; fetchTimeoutMs: number };
  ledger: {
    flushIntervalMs: number;
    batchSize: number;
    maxBatchSize: number;
    writeConnections: number;
    maxRetryMs: number;
    spoolFile?: string;
    writeTimeoutMs: number;
    maxQueuedRows: number;
    whenFull: 'refuse' | 'serve';
    rows: 'all' | 'errors' | 'none';
    rollups: boolean;
    retentionDays: number | null;
    rollupRetentionDays: number | null;
    maintenanceEveryMs: number;
  };
  batches: { settleEveryMs: number; lookbackDays: number };
  sharedSpend: { syncMs: number };
  reconcile: ReconcileConfig;
  unpriced: { policy: 'refuse' | 'estimate' };
  responseCostHeader: boolean;
}
