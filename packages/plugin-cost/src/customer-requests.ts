import { Ajv, type ErrorObject } from 'ajv';
import { GatewayError } from '@tollgate/core';

/** Whole UTC days only: end-user budgets count spend from the ledger's daily rollups. */
const dayDurationPattern = '^\\s*[1-9][0-9]*\\s*(d|w|mo)$';

/** Fields an end user can be created or updated with (LiteLLM's names and shapes). */
const customerFields = {
  alias: { type: ['string', 'null'] },
  blocked: { type: 'boolean' },
  max_budget: { type: ['number', 'null'], minimum: 0 },
  budget_duration: { type: ['string', 'null'], pattern: dayDurationPattern },
} as const;

export interface CustomerFields {
  alias?: string | null;
  blocked?: boolean;
  max_budget?: number | null;
  budget_duration?: string | null;
}

const userId = { type: 'string', minLength: 1 } as const;
const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
const object = (properties: object, required: string[]) => ajv.compile({ type: 'object', additionalProperties: false, properties, required });

const schemas = {
  new: object({ user_id: userId, ...customerFields }, ['user_id']),
  update: object({ user_id: userId, ...customerFields }, ['user_id']),
  ids: object({ user_ids: { type: 'array', minItems: 1, items: userId } }, ['user_ids']),
};
const allowed = { new: ['user_id', ...Object.keys(customerFields)], update: ['user_id', ...Object.keys(customerFields)], ids: ['user_ids'] };

/**
 * Checks a `/customer/*` body; a bad one is a 400 naming each problem (unknown fields
 * included: LiteLLM's `budget_id`, `tpm_limit` and the like are not supported, and must not
 * be silently ignored).
 *
 * @example
 * const { user_id, ...fields } = parseCustomerBody('new', await req.json());
 */
export function parseCustomerBody<K extends keyof typeof schemas>(kind: K, body: unknown): K extends 'ids' ? { user_ids: string[] } : CustomerFields & { user_id: string } {
  const check = schemas[kind];
  const value = body ?? {};
  if (check(value)) return value as never;
  throw new GatewayError('TG_ERR_BAD_REQUEST', (check.errors ?? []).map((e) => describe(e, allowed[kind])).join('; '));
}

function describe(e: ErrorObject, allowedFields: string[]): string {
  const field = e.instancePath.slice(1).replace(/\//g, '.') || 'body';
  if (e.keyword === 'additionalProperties') {
    return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}" (allowed: ${allowedFields.join(', ')})`;
  }
  if (e.keyword === 'pattern') return `${field} must be whole days, weeks or months such as 1d, 30d, 2w or 1mo (end-user budget windows are UTC days)`;
  return `${field} ${e.message ?? 'is invalid'}`;
}
