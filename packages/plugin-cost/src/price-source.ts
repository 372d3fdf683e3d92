import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { GatewayError, type Logger } from '@tollgate/core';
import { anthropicPrices } from './anthropic-prices.js';
import { createPriceBook, type ModelListing, type PriceBook } from './price-book.js';

/** Where the price book comes from, besides the shipped prices (the `prices` config). */
export interface PriceSources {
  models: Record<string, unknown>;
  files: string[];
  /** An HTTPS URL serving a price file (JSON or YAML), merged after `files`. */
  url?: string;
  /** Directory `files` are relative to. */
  baseDir: string;
  /** Longest wait for `url`. */
  fetchTimeoutMs: number;
}

/** What a reload reports. */
export interface ReloadResult {
  models: number;
  loadedAt: string;
}

/**
 * The price book in force, replaceable without a restart: `reload()` re-reads every source
 * and swaps the whole book in only when all of it loads and validates; on any error the old
 * book stays and the error (TG_ERR_CONFIG, one line per problem) is thrown. Lookups always see
 * one whole book, never a mix.
 *
 * @example
 * const live = await LivePriceBook.open(sources, log);
 * process.on('SIGHUP', () => void live.reload().catch(() => undefined));
 */
export class LivePriceBook implements PriceBook {
  private loadedAt = new Date();
  private reloading: Promise<ReloadResult> | undefined;

  private constructor(
    private book: PriceBook,
    private readonly sources: PriceSources,
    private readonly log: Logger,
  ) {}

  static async open(sources: PriceSources, log: Logger): Promise<LivePriceBook> {
    return new LivePriceBook(await loadBook(sources), sources, log);
  }

  lookup: PriceBook['lookup'] = (model, at) => this.book.lookup(model, at);
  canonical: PriceBook['canonical'] = (model) => this.book.canonical(model);
  models = (): ModelListing[] => this.book.models();

  /** Re-reads every source; concurrent calls share one run. */
  reload(): Promise<ReloadResult> {
    this.reloading ??= this.run().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  /** The book the sources would give with `extra` (a price file's content) merged last. */
  async candidate(extra: { label: string; data: unknown }): Promise<PriceBook> {
    return loadBook(this.sources, extra);
  }

  private async run(): Promise<ReloadResult> {
    let next: PriceBook;
    try {
      next = await loadBook(this.sources);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error({ reason: message }, 'price update refused: the prices in force stay as they were');
      throw new GatewayError('TG_ERR_CONFIG', `price update refused, the prices in force stay as they were: ${message}`, { cause: err });
    }
    this.book = next;
    this.loadedAt = new Date();
    const result = { models: next.models().length, loadedAt: this.loadedAt.toISOString() };
    this.log.info(result, 'prices reloaded');
    return result;
  }
}

async function loadBook(s: PriceSources, extra?: { label: string; data: unknown }): Promise<PriceBook> {
  const extraFiles = [];
  for (const file of s.files) {
    const path = resolve(s.baseDir, file);
    extraFiles.push({ label: path, data: parseFile(path, await readFile(path, 'utf8')) });
  }
  if (s.url) {
    const label = urlLabel(s.url);
    extraFiles.push({ label, data: parseFile(label, await fetchText(s.url, label, s.fetchTimeoutMs)) });
  }
  if (extra) extraFiles.push(extra);
  return createPriceBook(anthropicPrices, { extraFiles, models: s.models });
}

/** A price file's text as data: JSON when it says so by name, else YAML (a superset of JSON). */
export function parseFile(label: string, text: string): unknown {
  try {
    return /\.json(\?|$)/.test(label) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(`${label}: not valid ${/\.json(\?|$)/.test(label) ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

async function fetchText(url: string, label: string, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json, application/yaml, text/yaml' } });
  } catch (err) {
    throw new Error(`${label}: could not be fetched (${(err as Error).message})`);
  }
  if (!res.ok) throw new Error(`${label}: answered HTTP ${res.status}`);
  return res.text();
}

/** A URL as messages name it: without its query (which may carry a token). */
function urlLabel(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/**
 * Checks a price URL: HTTPS, or plain HTTP to this machine only (a sidecar, tests).
 *
 * @example
 * checkPriceUrl('http://example.com/p.json'); // 'prices.url must be https:// (…)'
 */
export function checkPriceUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `prices.url is not a URL: ${JSON.stringify(url)}`;
  }
  if (u.username || u.password) return 'prices.url must not carry credentials';
  if (u.protocol === 'https:') return undefined;
  const loopback = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
  if (u.protocol === 'http:' && loopback) return undefined;
  return `prices.url must be https:// (plain http:// only to localhost), got ${u.protocol}//${u.hostname}`;
}
