export { authPlugin as default, authPlugin } from './plugin.js';
export { readClientKey, type HeaderBag } from './credentials.js';
export { MasterKey, isMasterKey, resolveMasterKey, type MasterKeySource } from './master-key.js';
export { authConfigSchema, type AuthConfig } from './config-schema.js';
export { generateKey, hashKey, keyName, isKeyHash } from './keys.js';
export { parseDuration, addDuration, nextBoundary } from '@tollgate/core';
export type { VirtualKey } from './key-store.js';
