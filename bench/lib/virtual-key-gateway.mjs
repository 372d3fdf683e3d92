// A gateway target whose client key is a virtual key: seeds the data dir's database with a
// virtual key whose secret is the load generator's key (fixtures.mjs), then runs the CLI in
// this same process (so pinning and RSS apply to it) with a different master key, so every
// request takes the virtual-key path (hash, cache, checks) instead of the master-key comparison.
//   node bench/lib/virtual-key-gateway.mjs --port P --host H [--config FILE]
import { randomBytes } from 'node:crypto';
import { createStorage } from '../../packages/storage/dist/index.js';
import { keyMigrations, KeyStore } from '../../packages/plugin-auth/dist/key-store.js';
import { hashKey, keyName } from '../../packages/plugin-auth/dist/keys.js';
import { CLIENT_HEADERS } from './fixtures.mjs';

const secret = CLIENT_HEADERS['x-api-key'];
const storage = await createStorage({ url: process.env.DATABASE_URL, dataDir: process.env.TOLLGATE_DATA_DIR ?? './.tollgate' });
await storage.migrate('auth', keyMigrations);
const store = new KeyStore(storage);
const now = Date.now();
if (!(await store.get(hashKey(secret)))) {
  await store.insert({
    token: hashKey(secret), keyName: keyName(secret), keyAlias: 'bench', userId: 'bench-user', teamId: 'bench-team', models: [],
    maxBudget: null, budgetDuration: null, budgetResetAt: null, budgetSpendOffset: 0n, expires: null, metadata: {},
    rpmLimit: null, tpmLimit: null, maxParallelRequests: null, blocked: false, createdAt: now, updatedAt: now,
  });
}
await storage.close();
// A master key other than the client's, so the client's key can only pass as the virtual key
// (and a wrong key is refused).
process.env.TOLLGATE_MASTER_KEY = `sk-master-${randomBytes(12).toString('hex')}`;
delete process.env.LITELLM_MASTER_KEY;
process.argv = [process.argv[0], 'tollgate', ...process.argv.slice(2)];
await import('../../packages/cli/dist/main.js');
