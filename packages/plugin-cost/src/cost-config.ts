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
          description: 'Extra price files (JSON or YAML, the shipped file\'s shape), relative to the config file, merged in order before `models`.',
        },
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
        maxRetryMs: { type: 'integer', minimum: 10, default: 30000, description: 'Longest pause between retries while the database fails.' },
        spoolFile: { type: 'string', description: 'Where rows wait on disk while the database is down. Default: spend-spool.jsonl in the storage plugin\'s dataDir.' },
        rows: {
          enum: ['all', 'errors', 'none'],
          default: 'all',
          description:
            "Which requests get a row of their own: all (default; /spend/logs shows every request), errors (failures, aborts and unpriced requests only: the writer does less, /spend/logs shows only those, and reports take whole UTC days), none (no rows but those of Message Batches, which settling needs). Rows of batches are always kept. Rollups and running totals count every request either way.",
        },
        rollups: {
          type: 'boolean',
          default: true,
          description: 'Keep daily rollups (per day × key × user × team × model, per day × end user, per day × tag), written with the rows in one transaction. Reports, /customer/info and the budgets\' totals read them instead of scanning rows. Off: reports scan the rows (needs rows: all).',
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
      description: 'Budgets across replicas that share a PostgreSQL database (ignored on SQLite).',
      properties: {
        syncMs: {
          type: 'integer',
          minimum: 0,
          default: 1000,
          description: "How often to read every replica's committed spend for the keys budgets asked about; 0 turns it off (each replica then counts only its own spend since start).",
        },
      },
    },
    responseCostHeader: { type: 'boolean', default: true, description: 'Add x-tollgate-response-cost (USD) to non-streaming message responses.' },
  },
} as const;

export interface CostConfig {
  prices: { models: Record<string, unknown>; files: string[] };
  ledger: {
    flushIntervalMs: number;
    batchSize: number;
    maxRetryMs: number;
    spoolFile?: string;
    rows: 'all' | 'errors' | 'none';
    rollups: boolean;
    retentionDays: number | null;
    rollupRetentionDays: number | null;
    maintenanceEveryMs: number;
  };
  batches: { settleEveryMs: number; lookbackDays: number };
  sharedSpend: { syncMs: number };
  responseCostHeader: boolean;
}
