import { DEFAULT_END_USER_FROM, END_USER_SOURCES, type EndUserSource } from './client-identity.js';
import { failoverSchema, upstreamListSchema, type FailoverConfig, type UpstreamConfig } from './upstream-config.js';

/** Core's part of the YAML config. Every field documents itself and has a default. */
export const coreConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The HTTP listener.',
      properties: {
        host: { type: 'string', default: '0.0.0.0', description: 'Address to listen on (env HOST).' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 4000, description: 'Port to listen on (env PORT); 0 picks a free one.' },
        bodyLimit: { type: 'integer', minimum: 1, default: 33554432, description: 'Largest request body the gateway reads (JSON: messages, count_tokens, batch creates), in bytes (default 32 MiB); larger gets 413.' },
        uploadLimit: { type: 'integer', minimum: 1, default: 524288000, description: 'Largest body the gateway streams through without reading it (file and skill uploads: any body that is not JSON on a route whose body the gateway does not read), in bytes (default 500 MB, the Files API limit); larger gets 413.' },
        bodyReadLimit: { type: 'integer', minimum: 1, default: 268435456, description: 'Most request-body bytes all requests together may be reading at once (default 256 MiB); a request that would pass it gets 503 overloaded_error, so slow or huge bodies cannot fill memory.' },
        shutdownGraceMs: { type: 'integer', minimum: 0, default: 30000, description: 'On SIGTERM/SIGINT, how long the whole shutdown may take (at most the kill timeout of the orchestrator, e.g. Kubernetes terminationGracePeriodSeconds): in-flight requests (streams included) run until min(2 s, a quarter of it) before its end, then are cut; the plugins close in the rest (the spend ledger spools to disk what the database has not taken by then).' },
        publicUrl: {
          type: 'string',
          pattern: '^https?://',
          description:
            'Base URL clients use to reach the gateway (for rewritten batch results_url). Unset: the Host header when it is one of trustedHosts, else the address the request arrived on; never an unvetted Host header (an SDK following results_url sends its key there).',
        },
        trustedHosts: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description: 'Host header values (host or host:port, compared case-insensitively) that may form results_url when publicUrl is unset, with x-forwarded-proto honoured for them.',
        },
        keepAliveTimeoutMs: { type: 'integer', minimum: 0, default: 65000, description: 'Idle keep-alive timeout for client connections.' },
      },
    },
    requests: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Bounds on what a request body may ask the gateway to read and record; past one, a 400.',
      properties: {
        maxJsonDepth: { type: 'integer', minimum: 2, default: 256, description: 'Deepest nesting of a JSON request body (the body itself is level 1).' },
        maxEndUserLength: { type: 'integer', minimum: 1, default: 256, description: 'Longest end user (litellm_metadata.user or metadata.user_id), in characters (Anthropic allows 256 for metadata.user_id).' },
        maxTags: { type: 'integer', minimum: 0, default: 64, description: 'Most tags in litellm_metadata.tags.' },
        maxTagLength: { type: 'integer', minimum: 1, default: 256, description: 'Longest tag, in characters.' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'pino logging to stdout.',
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', description: 'Minimum log level (env LOG_LEVEL).' },
        accessLog: { type: 'boolean', default: true, description: 'One info line per proxied request.' },
      },
    },
    clients: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How clients present the gateway key, who the end user is, and whether clients may bring their own upstream credential (docs/claude-code.md).',
      properties: {
        keyHeader: {
          type: 'string',
          pattern: '^[a-z0-9-]+$',
          default: 'x-tollgate-key',
          description: 'A request header that carries the gateway key besides x-api-key and Authorization: Bearer (lower case). Checked first; never forwarded upstream. Needed to bring your own credential.',
        },
        endUserHeader: {
          type: 'string',
          pattern: '^[a-z0-9-]+$',
          default: 'x-tollgate-end-user',
          description: 'A request header naming the end user (the "header" source of endUserFrom; lower case).',
        },
        endUserFrom: {
          type: 'array',
          items: { enum: [...END_USER_SOURCES] },
          uniqueItems: true,
          default: [...DEFAULT_END_USER_FROM],
          description:
            'Where the end user comes from, first non-empty wins: litellm_metadata.user, header (endUserHeader), metadata.user_id (a plain string only), ' +
            "account_uuid or device_id (fields of a JSON metadata.user_id, as Claude Code sends). A JSON metadata.user_id is never the end user. [] books no end user.",
        },
        ownCredentials: {
          enum: ['per-key', 'all-keys'],
          default: 'per-key',
          description:
            "When a client that sent the gateway key in keyHeader also sends its own x-api-key or OAuth Bearer, forward that credential (and the gateway's upstream key is not used): " +
            'per-key: only for keys whose metadata has own_credentials: true; all-keys: for every virtual key.',
        },
      },
    },
    providers: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Upstream providers, by name.',
      properties: {
        anthropic: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'The Anthropic pass-through mounted at /anthropic.',
          properties: {
            baseUrl: { type: 'string', pattern: '^https?://', description: 'Upstream base URL (env ANTHROPIC_BASE_URL, default https://api.anthropic.com). A path prefix is kept.' },
            apiKey: { type: 'string', minLength: 1, description: 'The real upstream key, sent as x-api-key (env ANTHROPIC_API_KEY). Never logged.' },
            timeoutMs: { type: 'integer', minimum: 1, default: 600000, description: 'Time to wait for upstream response headers before 504 timeout_error.' },
            idleTimeoutMs: { type: 'integer', minimum: 1, default: 300000, description: 'Longest silence allowed inside an upstream response body (streams).' },
            connections: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Most open connections to the upstream; null: no limit (each stream holds one connection for its whole length, so a cap also caps concurrent streams).' },
            mountAtRoot: { type: 'boolean', default: false, description: 'Also serve the Anthropic API at / (/v1/messages, …), for clients set up for LiteLLM, whose base URL has no /anthropic.' },
            upstreams: upstreamListSchema,
            failover: failoverSchema,
          },
        },
      },
    },
    plugins: {
      type: 'array',
      default: [],
      description: 'Plugins to load, in any order (priority decides the order hooks run).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['use'],
        properties: {
          use: { type: 'string', minLength: 1, description: 'Package name (e.g. @tollgate/plugin-auth) or a path to an ES module, relative to the config file.' },
          priority: { type: 'integer', description: "Overrides the plugin's own priority." },
          enabled: { type: 'boolean', default: true, description: 'Set false to keep the entry but not load it.' },
          config: { type: 'object', default: {}, description: "The plugin's own options, validated by its schema." },
        },
      },
    },
  },
} as const;

export interface PluginEntry {
  use: string;
  priority?: number;
  enabled: boolean;
  config: Record<string, unknown>;
}

export interface AnthropicProviderConfig {
  baseUrl?: string;
  apiKey?: string;
  timeoutMs: number;
  idleTimeoutMs: number;
  connections: number | null;
  mountAtRoot?: boolean;
  /** The pool; absent: one upstream named `default` from baseUrl/apiKey. */
  upstreams?: UpstreamConfig[];
  failover: FailoverConfig;
}

/** The validated `clients` section. */
export interface ClientsConfig {
  keyHeader: string;
  endUserHeader: string;
  endUserFrom: EndUserSource[];
  ownCredentials: 'per-key' | 'all-keys';
}

/** Bounds on what a request body may ask the gateway to read and record (`requests:`). */
export interface RequestLimits {
  maxJsonDepth: number;
  maxEndUserLength: number;
  maxTags: number;
  maxTagLength: number;
}

/** The validated config with every default applied. */
export interface GatewayConfig {
  server: {
    host: string;
    port: number;
    bodyLimit: number;
    uploadLimit: number;
    bodyReadLimit: number;
    shutdownGraceMs: number;
    publicUrl?: string;
    trustedHosts: string[];
    keepAliveTimeoutMs: number;
  };
  requests: RequestLimits;
  log: { level: string; accessLog: boolean };
  clients: ClientsConfig;
  providers: { anthropic: AnthropicProviderConfig };
  plugins: PluginEntry[];
  /** Directory relative plugin paths resolve against (the config file's). */
  baseDir?: string;
  /** The config file, for error messages. */
  source?: string;
}
