import { ADMIN_GUARD, definePlugin, GatewayError } from '@tollgate/core';
import { registerAdminRelay } from './admin-relay.js';
import { assetHandler, loadAssets } from './assets.js';
import { consoleConfigSchema, type ConsoleConfig } from './config-schema.js';
import { registerSessionRoutes } from './session-routes.js';
import { SessionStore } from './sessions.js';
import { SignInLimit, TRACKED_ADDRESSES } from './sign-in-limit.js';

/**
 * The web console at `/ui`: spend overview, keys and the request log. Sign in with the master
 * key, or a virtual key to see that key's own spend and requests. The page calls the same
 * admin routes the CLI does, through `/ui/api/…` with the session's key; the key stays on the
 * server (an HttpOnly, SameSite=Strict cookie names the session) and every change carries a
 * CSRF token. All assets are served by the gateway itself.
 *
 * @example
 * // plugins:
 * //   - use: '@tollgate/plugin-auth'
 * //   - use: '@tollgate/plugin-cost'
 * //   - use: '@tollgate/plugin-console'
 */
export const consolePlugin = definePlugin<ConsoleConfig>({
  name: 'console',
  priority: 400,
  dependencies: ['auth'],
  configSchema: consoleConfigSchema,
  setup(api) {
    const sessions = new SessionStore({ ttlMs: api.config.sessionTtlMinutes * 60_000, max: api.config.maxSessions });
    for (const asset of loadAssets()) {
      api.route('GET', asset.path, assetHandler(asset));
      if (asset.path === '/ui') api.route('GET', '/ui/', assetHandler(asset));
    }
    const limit = new SignInLimit({ max: api.config.maxFailedSignIns, windowMs: api.config.failedSignInWindowSeconds * 1000, maxAddresses: TRACKED_ADDRESSES });
    registerSessionRoutes({ api, sessions, guard: () => api.resolve(ADMIN_GUARD), limit });
    registerAdminRelay(api, sessions);
    api.onReady(() => {
      if (!api.has(ADMIN_GUARD)) throw new GatewayError('TG_ERR_CONFIG', 'the console needs the auth plugin (@tollgate/plugin-auth) to sign users in');
    });
  },
});
