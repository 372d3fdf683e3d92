export { createStorage, type Storage, type StorageHealth, type StorageOptions } from './storage.js';
export { isOutage } from './outage.js';
export { splitInserts, type BackgroundWriter, type BulkInsert, type InsertSplit } from './background-writer.js';
export type { KeepWhen, RollupSpec } from './rollup.mjs';
export { parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
export { storagePlugin, STORAGE, type StoragePluginConfig } from './plugin.js';
export { storagePlugin as default } from './plugin.js';
export { sql, type CompiledQuery, type Kysely, type Migration } from 'kysely';
export { isPostgres } from './migrate.js';
