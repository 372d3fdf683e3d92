import { definePlugin, type InjectionToken } from '@tollgate/core';
import { createStorage, type Storage } from './storage.js';

/** The gateway's storage, provided by the `storage` plugin. */
export const STORAGE: InjectionToken<Storage> = Symbol.for('tollgate.storage');

export interface StoragePluginConfig {
  url?: string;
  dataDir?: string;
  schema?: string;
  poolSize: number;
}

/**
 * Opens the database once per gateway and provides it as `STORAGE`. Plugins that persist list
 * `dependencies: ['storage']` and run their migrations in their own setup.
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
    },
  },
  async setup(api) {
    const storage = await createStorage({
      url: api.config.url ?? (api.env.DATABASE_URL || undefined),
      dataDir: api.config.dataDir ?? (api.env.TOLLGATE_DATA_DIR || './.tollgate'),
      schema: api.config.schema,
      poolSize: api.config.poolSize,
    });
    api.provide(STORAGE, storage);
    api.readiness('database', () => storage.ping());
    api.onClose(() => storage.close());
    api.log.info({ database: storage.description }, 'storage ready');
  },
});
