/** The response content codings the gateway can decode to read usage (see body-tap.ts and upstream.ts). */
const READABLE = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'identity']);

/**
 * An `accept-encoding` value narrowed to the codings the gateway can read, so a metered
 * response never comes back in one it cannot (Claude Code offers `zstd`, which Node 20's zlib
 * lacks: the usage of such a response would be lost). `*` is dropped for the same reason.
 * Undefined when nothing readable is left: the upstream then answers uncompressed.
 *
 * @example
 * readableCodings('gzip, deflate, br, zstd'); // 'gzip, deflate, br'
 * readableCodings('zstd');                    // undefined
 */
export function readableCodings(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const kept = (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((part) => part.trim())
    .filter((part) => READABLE.has(part.split(';')[0].trim().toLowerCase()));
  return kept.length > 0 ? kept.join(', ') : undefined;
}
