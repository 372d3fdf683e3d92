// A gateway target whose client key is a virtual key: seeds the data dir's database with a
// virtual key whose secret is the load generator's key (seed-virtual-key.mjs), then runs the
// CLI in this same process (so pinning and RSS apply to it) with a different master key, so
// every request takes the virtual-key path (hash, cache, checks) instead of the master-key
// comparison.
//   node bench/lib/virtual-key-gateway.mjs --port P --host H [--config FILE]
//
// The seeding runs in a child process, as a key made earlier (or by another replica) would be:
// done in this process, its database and migration work left garbage behind that shifted V8's
// first full-collection limits, and this process's old generation then grew ~20 MB further
// under load before it was collected (peak RSS 185 vs 165 MiB, 15 s closed loop) than the
// CLI started on its own does.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const seeded = spawnSync(process.execPath, [fileURLToPath(new URL('./seed-virtual-key.mjs', import.meta.url))], { stdio: 'inherit' });
if (seeded.status !== 0) process.exit(seeded.status ?? 1);
// A master key other than the client's, so the client's key can only pass as the virtual key
// (and a wrong key is refused).
process.env.TOLLGATE_MASTER_KEY = `sk-master-${randomBytes(12).toString('hex')}`;
delete process.env.LITELLM_MASTER_KEY;
process.argv = [process.argv[0], 'tollgate', ...process.argv.slice(2)];
await import('../../packages/cli/dist/main.js');
