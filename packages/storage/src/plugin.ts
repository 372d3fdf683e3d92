import { definePlugin, type InjectionToken } from '@tollgate/core';
import { createStorage, type Storage } from './storage.js';

/** The gateway's storage, provided by the `storage` plugin. */
export const STORAGE: InjectionToken<Storage> = Symbol.for('tollgate.storage');

export interface StoragePluginConfig {
  url?: string;
  dataDir?: string;
  schema?: string;
  poolSize: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
}

/**
 * Opens the database once per gateway and provides it as `STORAGE`. Plugins that persist list
 * `dependencies: ['storage']` and run their migrations in their own setup, through
 * `storage.whenAvailable` so that a database down at start delays them instead of failing
 * the boot.
 */
export const storagePlugin = definePlugin<StoragePluginConfig>({
  name: 'storage',
  // No hooks: priority only places it in listings; dependencies decide setup order.
  priority: 0,
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      url: { type: 'string', description: 'postgres://…, file:PATH or sqlite:PATH (env DATABASE_URL). Unset: embedded SQLite in dataDir.' },
      dataDir: { type: 'string', description: 'Folder of the embedded database (env TOLLGATE_DATA_DIR, default ./.tollgate).' },
      schema: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'PostgreSQL schema to use, created if missing. Default: the server search_path.' },
      poolSize: { type: 'integer', minimum: 1, default: 10, description: 'Most pooled PostgreSQL connections.' },
      connectTimeoutMs: {
        type: 'integer',
        minimum: 100,
        default: 5000,
        description: 'Longest wait for a PostgreSQL connection, new or from the full pool; then the query fails (and a start-up task is retried later).',
      },
      queryTimeoutMs: {
        type: 'integer',
        minimum: 100,
        default: 30000,
        description:
          "Longest a PostgreSQL statement may run (the server's statement_timeout and idle_in_transaction_session_timeout); a query whose connection went silent fails a second later and the connection is dropped. Migrations have no limit.",
      },
    },
  },
  async setup(api) {
    const storage = await createStorage({
      url: api.config.url ?? (api.env.DATABASE_URL || undefined),
      dataDir: api.config.dataDir ?? (api.env.TOLLGATE_DATA_DIR || './.tollgate'),
      schema: api.config.schema,
      poolSize: api.config.poolSize,
      connectTimeoutMs: api.config.connectTimeoutMs,
      queryTimeoutMs: api.config.queryTimeoutMs,
      log: api.log,
    });
    api.provide(STORAGE, storage);
    api.readiness('database', () => storage.health());
    api.onClose(({ deadline }) => storage.close({ deadline }));
    api.log.info({ database: storage.description }, storage.started ? 'storage ready' : 'storage opened; start-up waits for the database');
  },
});
