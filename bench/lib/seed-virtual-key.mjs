// Seeds the data dir's database with a virtual key whose secret is the load generator's key
// (fixtures.mjs). Run by virtual-key-gateway.mjs in a process of its own.
import { createStorage } from '../../packages/storage/dist/index.js';
import { keyMigrations, KeyStore, newVirtualKey } from '../../packages/plugin-auth/dist/key-store.js';
import { hashKey, keyName } from '../../packages/plugin-auth/dist/keys.js';
import { CLIENT_HEADERS } from './fixtures.mjs';

const secret = CLIENT_HEADERS['x-api-key'];
const storage = await createStorage({ url: process.env.DATABASE_URL, dataDir: process.env.TOLLGATE_DATA_DIR ?? './.tollgate' });
await storage.migrate('auth', keyMigrations);
const store = new KeyStore(storage);
const now = Date.now();
if (!(await store.get(hashKey(secret)))) {
  await store.insert({ ...newVirtualKey(hashKey(secret), keyName(secret), now), keyAlias: 'bench', userId: 'bench-user', teamId: 'bench-team' });
}
await storage.close();
