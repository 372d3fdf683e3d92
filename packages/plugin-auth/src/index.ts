export { authPlugin as default, authPlugin } from './plugin.js';
export { authenticate } from './authenticate.js';
export { readClientKey, type HeaderBag } from './credentials.js';
export { MasterKey, isMasterKey, resolveMasterKey, type MasterKeySource } from './master-key.js';
export { authConfigSchema, type AuthConfig } from './config-schema.js';
