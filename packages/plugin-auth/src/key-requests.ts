import { Ajv, type ErrorObject } from 'ajv';
import { GatewayError } from '@tollgate/core';

/** Limits: whole numbers up to what the key table's integer columns hold (PostgreSQL's 2^31 − 1). */
const nullableInt = { type: ['integer', 'null'], minimum: 0, maximum: 2_147_483_647 };
const durationPattern = '^\\s*[1-9][0-9]*\\s*(s|m|h|d|w|mo)$';

/** Fields a key can be created or updated with (LiteLLM's names and shapes). */
const keyFields = {
  models: { type: 'array', items: { type: 'string', minLength: 1 } },
  max_budget: { type: ['number', 'null'], minimum: 0 },
  budget_duration: { type: ['string', 'null'], pattern: durationPattern },
  duration: { type: ['string', 'null'], pattern: durationPattern },
  key_alias: { type: ['string', 'null'], minLength: 1 },
  user_id: { type: ['string', 'null'] },
  team_id: { type: ['string', 'null'] },
  // Free-form, but the fields the gateway reads must mean what they say.
  metadata: { type: 'object', properties: { own_credentials: { type: 'boolean' }, own_credentials_budget: { type: 'boolean' } } },
  rpm_limit: nullableInt,
  tpm_limit: nullableInt,
  max_parallel_requests: nullableInt,
  blocked: { type: 'boolean' },
} as const;

export interface KeyFields {
  models?: string[];
  max_budget?: number | null;
  budget_duration?: string | null;
  duration?: string | null;
  key_alias?: string | null;
  user_id?: string | null;
  team_id?: string | null;
  metadata?: Record<string, unknown>;
  rpm_limit?: number | null;
  tpm_limit?: number | null;
  max_parallel_requests?: number | null;
  blocked?: boolean;
}

const ajv = new Ajv({ allErrors: true });
const object = (properties: object, required: string[] = []) => ajv.compile({ type: 'object', additionalProperties: false, properties, required });

const schemas = {
  generate: object(keyFields),
  update: object({ key: { type: 'string', minLength: 1 }, ...keyFields }, ['key']),
  key: object({ key: { type: 'string', minLength: 1 } }, ['key']),
  regenerate: object({ key: { type: 'string', minLength: 1 }, ...keyFields }, ['key']),
  delete: object({ keys: { type: 'array', items: { type: 'string' } }, key_aliases: { type: 'array', items: { type: 'string' } } }),
};

/**
 * Checks an admin request body; a bad one is a 400 naming each problem (unknown fields
 * included, so a typo such as `tpm_limt` is never silently ignored).
 *
 * @example
 * const body = parseBody('generate', await req.json()) as KeyFields;
 */
export function parseBody<K extends keyof typeof schemas>(kind: K, body: unknown): Record<string, any> {
  const check = schemas[kind];
  const value = body ?? {};
  if (check(value)) return value as Record<string, any>;
  throw new GatewayError('TG_ERR_BAD_REQUEST', (check.errors ?? []).map(describe).join('; '));
}

function describe(e: ErrorObject): string {
  const field = e.instancePath.slice(1).replace(/\//g, '.') || 'body';
  if (e.keyword === 'additionalProperties') {
    return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}" (allowed: ${Object.keys(keyFields).join(', ')})`;
  }
  if (e.keyword === 'pattern') return `${field} must be a duration such as 30s, 1h, 1d, 30d or 1mo`;
  return `${field} ${e.message ?? 'is invalid'}`;
}
