import prices from './prices/anthropic.json' with { type: 'json' };

/**
 * The shipped Anthropic list prices (`prices/anthropic.json`), unvalidated: pass them to
 * `createPriceBook`, which checks them.
 *
 * @example
 * const book = createPriceBook(anthropicPrices);
 */
export const anthropicPrices: unknown = prices;
