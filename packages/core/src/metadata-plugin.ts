import { definePlugin, type PluginDefinition } from './plugin.js';
import type { RequestLimits } from './config-schema.js';
import type { ProviderAdapter } from './provider.js';

/**
 * Built in, always loaded: reads model, stream flag, end user and tags from the request body
 * through the route's provider adapter, and strips gateway-only fields (`litellm_metadata`).
 * Runs after auth (900) and before policy (700), so policies can see the model.
 */
export function createMetadataPlugin(providers: ReadonlyMap<string, ProviderAdapter>, limits: RequestLimits): PluginDefinition {
  return definePlugin({
    name: 'metadata',
    priority: 800,
    setup() {
      return {
        onRequest(ctx) {
          return providers.get(ctx.route.provider)!.prepare(ctx, limits);
        },
      };
    },
  });
}
