import { Ajv, type ErrorObject } from 'ajv';

/** A dollar amount per million tokens: a JSON number (read through its shortest decimal form) or a decimal string. */
export type Amount = number | string;

/** The rate fields of a price row or of its long-context tier, USD per MTok. */
export interface RateFieldsInput {
  input: Amount;
  output: Amount;
  cache_write_5m: Amount;
  cache_write_1h: Amount;
  cache_read: Amount;
  batch_input: Amount;
  batch_output: Amount;
}

export interface LongContextInput extends Omit<RateFieldsInput, 'batch_input' | 'batch_output'> {
  /** A request whose prompt (input + cache writes + cache reads) exceeds this is billed wholly at these rates. */
  threshold_prompt_tokens: number;
  /** Default: 50% of `input`. */
  batch_input?: Amount;
  /** Default: 50% of `output`. */
  batch_output?: Amount;
}

/** One dated price row, as written in a price file (shipped JSON or YAML overrides). */
export interface PriceRowInput extends Partial<RateFieldsInput> {
  /** ISO date (UTC) from which the row is in force; only the first row may omit it. */
  effective_from?: string;
  /** No price is known from `effective_from` on: requests are recorded as unpriced. */
  unpriced?: true;
  long_context?: LongContextInput;
  multipliers?: { inference_geo?: Record<string, Amount>; speed?: Record<string, Amount> };
  source?: string;
  notes?: string;
  /** The row (or a rate in it) rests on independent trackers only, not on an Anthropic page. */
  provisional?: true;
}

export interface ModelEntryInput {
  aliases?: string[];
  status?: string;
  notes?: string;
  /** Rows in date order; a later file's entry replaces these wholesale. */
  prices: PriceRowInput[];
}

/** The shape of the shipped `prices/anthropic.json` and of every extra price file. */
export interface PriceFileInput {
  $comment?: unknown;
  server_tools?: { web_search?: { per_1000_requests: Amount; source?: string } };
  models?: Record<string, ModelEntryInput>;
}

export const RATE_FIELDS = ['input', 'output', 'cache_write_5m', 'cache_write_1h', 'cache_read', 'batch_input', 'batch_output'] as const;

// Formats are checked when the book is built, where each bad value gets one clear message.
const amount = { type: ['number', 'string'] };
const text = { type: 'string' };
const multiplierMap = {
  type: 'object',
  propertyNames: { pattern: '^[a-z0-9_-]+$' },
  additionalProperties: amount,
};
const rateProps = Object.fromEntries(RATE_FIELDS.map((f) => [f, amount]));

const priceRow = {
  type: 'object',
  additionalProperties: false,
  properties: {
    effective_from: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' },
    unpriced: { const: true },
    ...rateProps,
    long_context: {
      type: 'object',
      additionalProperties: false,
      required: ['threshold_prompt_tokens', 'input', 'output', 'cache_write_5m', 'cache_write_1h', 'cache_read'],
      properties: { threshold_prompt_tokens: { type: 'integer', minimum: 1 }, ...rateProps },
    },
    multipliers: {
      type: 'object',
      additionalProperties: false,
      properties: { inference_geo: multiplierMap, speed: multiplierMap },
    },
    source: text,
    notes: text,
    provisional: { const: true },
  },
};

const modelEntry = {
  type: 'object',
  additionalProperties: false,
  required: ['prices'],
  properties: {
    aliases: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: '^\\S+$' } },
    status: text,
    notes: text,
    prices: { type: 'array', minItems: 1, items: priceRow },
  },
};

const modelMap = { type: 'object', propertyNames: { pattern: '^\\S+$' }, additionalProperties: modelEntry };

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
const checkFile = ajv.compile<PriceFileInput>({
  type: 'object',
  additionalProperties: false,
  properties: {
    $comment: {},
    server_tools: {
      type: 'object',
      additionalProperties: false,
      properties: {
        web_search: {
          type: 'object',
          additionalProperties: false,
          required: ['per_1000_requests'],
          properties: { per_1000_requests: amount, source: text },
        },
      },
    },
    models: modelMap,
  },
});
const checkModels = ajv.compile<Record<string, ModelEntryInput>>(modelMap);

/**
 * Structural check of a price file (or, with `modelsOnly`, of a bare model map): unknown
 * fields, wrong types and malformed numbers or dates each come back as one message.
 *
 * @example
 * checkPriceFile({ models: { x: { prices: [] } } }, 'extra.yaml'); // ['extra.yaml: /models/x/prices must NOT have fewer than 1 items']
 */
export function checkPriceFile(data: unknown, label: string, modelsOnly = false): string[] {
  const check = modelsOnly ? checkModels : checkFile;
  if (check(data)) return [];
  return (check.errors ?? []).map((e) => `${label}: ${describe(e)}`);
}

function describe(e: ErrorObject): string {
  const where = e.instancePath || '/';
  if (e.keyword === 'additionalProperties') return `${where}: unknown field "${String(e.params.additionalProperty)}"`;
  if (e.keyword === 'propertyNames') return `${where}: bad key "${String(e.params.propertyName)}"`;
  return `${where} ${e.message ?? 'is invalid'}`;
}
