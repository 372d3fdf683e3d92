// Micro-benchmark of the auth plugin's request hook on the hot path: what a cache hit costs per
// request, next to the master-key check and open mode, measured in the same process.
//   node bench/auth-hook.mjs [iterations]
// The load benchmark (run.mjs) measures the whole gateway with and without the plugin; this
// isolates the key check itself, which is too small to see above the load benchmark's noise.
import { KeyCache } from '../packages/plugin-auth/dist/key-cache.js';
import { KeyGate } from '../packages/plugin-auth/dist/key-gate.js';
import { generateKey, hashKey, keyName } from '../packages/plugin-auth/dist/keys.js';
import { RateLimiter } from '../packages/plugin-auth/dist/limiter.js';
import { MasterKey } from '../packages/plugin-auth/dist/master-key.js';

const N = Number(process.argv[2] ?? 1_000_000);
const key = generateKey();
const now = Date.now();
const record = {
  token: hashKey(key), keyName: keyName(key), keyAlias: 'bench', userId: 'u', teamId: 't', models: [], maxBudget: null,
  budgetDuration: null, budgetResetAt: null, budgetSpendOffset: 0n, expires: null, metadata: {}, rpmLimit: null,
  tpmLimit: null, maxParallelRequests: null, blocked: false, createdAt: now, updatedAt: now,
};
const store = { get: async () => record, save: async () => {} };
const cache = new KeyCache(store, 60_000, 1000);
cache.set(record);
const master = new MasterKey('sk-master-bench');
const gates = {
  'open mode (no key check)': new KeyGate(undefined, cache, store, new RateLimiter()),
  'master key': new KeyGate(master, cache, store, new RateLimiter()),
  'virtual key, cache hit': new KeyGate(master, cache, store, new RateLimiter()),
};
const headersFor = { 'open mode (no key check)': {}, 'master key': { 'x-api-key': 'sk-master-bench' }, 'virtual key, cache hit': { 'x-api-key': key } };

function run(name, n) {
  const gate = gates[name];
  const ctx = { request: { headers: headersFor[name] }, state: {}, usage: undefined, log: { error() {} } };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    ctx.state = {};
    const r = gate.onRequest(ctx);
    if (r !== undefined) throw new Error(`${name}: the hook went async (cache miss?)`);
    gate.release(ctx);
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

for (const name of Object.keys(gates)) run(name, 50_000); // warm-up
const rows = Object.keys(gates).map((name) => [name, run(name, N)]);
console.log(`| auth hook, ${N.toLocaleString('en')} calls, node ${process.version} | ns per request |`);
console.log('|:---|---:|');
for (const [name, ns] of rows) console.log(`| ${name} | ${ns.toFixed(0)} |`);
