import { definePlugin } from '@tollgate/core';
import { authenticate } from './authenticate.js';
import { authConfigSchema, type AuthConfig } from './config-schema.js';
import { resolveMasterKey } from './master-key.js';

/**
 * Who is calling. With a master key (config, env TOLLGATE_MASTER_KEY or LITELLM_MASTER_KEY)
 * every /anthropic/* request must present it; without one the gateway is open. Either way the
 * client's credential never reaches the upstream: core swaps in the configured upstream key.
 *
 * @example
 * // tollgate.yaml
 * // plugins:
 * //   - use: '@tollgate/plugin-auth'
 * //     config: { masterKey: '${TOLLGATE_MASTER_KEY}' }
 */
export const authPlugin = definePlugin<AuthConfig>({
  name: 'auth',
  priority: 900,
  configSchema: authConfigSchema,
  setup(api) {
    const resolved = resolveMasterKey(api.config.masterKey, api.env);
    if (resolved) {
      api.log.info({ source: resolved.source }, 'master key required on provider routes');
    } else {
      api.log.warn(
        'OPEN GATEWAY: no master key configured (auth.masterKey, TOLLGATE_MASTER_KEY or LITELLM_MASTER_KEY); ' +
          'anyone who can reach this gateway can spend its upstream API key',
      );
    }
    const master = resolved?.key;
    return {
      onRequest(ctx) {
        ctx.principal = authenticate(ctx.request.headers, master);
      },
    };
  },
});
