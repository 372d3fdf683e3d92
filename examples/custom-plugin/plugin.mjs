// @ts-check
/// <reference path="./state.d.ts" />
/**
 * `team`: every request must say which team is calling, in a header. The team becomes a tag
 * (so spend can be grouped by it) and per-request state (`ctx.state.team`); an unknown or
 * missing team is refused in Anthropic's error shape before the upstream is called.
 *
 * Plain ES module JavaScript with JSDoc types: a YAML `use: ./plugin.mjs` loads it as is,
 * with no build step. The TypeScript version is in docs/plugin-authoring.md.
 */
import { definePlugin, GatewayError } from '@tollgate/core';

/** A team name: what may follow the tag prefix. */
const TEAM = '^[A-Za-z0-9._-]{1,64}$';
const TEAM_RE = new RegExp(TEAM);

/**
 * @typedef {object} TeamConfig
 * @property {string} header
 * @property {boolean} required
 * @property {string[]} allowed
 * @property {string} tagPrefix
 */

/** The plugin's options; ajv validates them at boot, applies the defaults and rejects unknown keys. */
export const teamConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    header: {
      type: 'string',
      pattern: '^[a-z0-9-]+$',
      default: 'x-team',
      description: 'Request header that names the calling team (lower case, as Node.js presents header names).',
    },
    required: {
      type: 'boolean',
      default: true,
      description: 'true: a request without the header gets 400 invalid_request_error. false: it passes, untagged.',
    },
    allowed: {
      type: 'array',
      items: { type: 'string', pattern: TEAM },
      uniqueItems: true,
      default: [],
      description: 'Teams that may call; any other gets 403 permission_error. Empty: any well-formed team name.',
    },
    tagPrefix: {
      type: 'string',
      default: 'team:',
      description: 'Prefix of the tag added to the request, e.g. "team:" gives the tag "team:search".',
    },
  },
};

export const teamPlugin = definePlugin({
  name: 'team',
  // Policy band: after auth (900) has named the caller and after the built-in metadata
  // plugin (800) has read the body's litellm_metadata.tags, which it assigns to ctx.tags.
  priority: 700,
  configSchema: teamConfigSchema,
  /** @param {import('@tollgate/core').PluginApi<TeamConfig>} api */
  setup(api) {
    const { header, required, allowed, tagPrefix } = api.config;
    const allowList = allowed.length > 0 ? new Set(allowed) : undefined;
    api.log.info({ header, required, allowed: allowed.length > 0 ? allowed : 'any' }, 'team header checked on provider routes');
    return {
      onRequest(ctx) {
        const value = ctx.request.headers[header];
        const team = (Array.isArray(value) ? value[0] : value)?.trim();
        if (!team) {
          if (!required) return;
          throw new GatewayError('TG_ERR_BAD_REQUEST', `missing ${header} header: name the team making this request`);
        }
        if (!TEAM_RE.test(team)) {
          throw new GatewayError('TG_ERR_BAD_REQUEST', `${header} must be 1-64 letters, digits, ".", "_" or "-"`);
        }
        if (allowList && !allowList.has(team)) {
          throw new GatewayError('TG_ERR_FORBIDDEN', `team "${team}" may not use this gateway`);
        }
        const tag = tagPrefix + team;
        if (!ctx.tags.includes(tag)) ctx.tags = [...ctx.tags, tag];
        ctx.state.team = { id: team, tag };
      },
      // Runs exactly once per request, rejected ones included (then state.team is unset).
      onComplete(ctx, outcome) {
        api.log.info(
          { reqId: ctx.id, team: ctx.state.team?.id, status: outcome.status, aborted: outcome.aborted, error: outcome.error?.code },
          'team request complete',
        );
      },
    };
  },
});

export default teamPlugin;
