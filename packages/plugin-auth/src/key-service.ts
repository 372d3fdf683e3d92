import { addDuration, GatewayError, parseDuration, picoToNumber, picoToUsd, usdToPico, type Pico } from '@tollgate/core';
import { windowSpend } from './budget.js';
import type { BudgetSpend } from './budget-spend.js';
import type { KeyCache } from './key-cache.js';
import type { KeyFields } from './key-requests.js';
import { newVirtualKey, type KeyStore, type VirtualKey } from './key-store.js';
import { generateKey, hashKey, isKeyHash, keyName } from './keys.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The admin side of virtual keys: create, read, change, delete. Keeps the cache in step. */
export class KeyService {
  /** Set once the plugins are ready, when a cost plugin provides it. */
  spend: BudgetSpend | undefined;
  /** Told the tokens of keys an admin call changed or deleted (other replicas' caches). */
  announce: (tokens: readonly string[]) => void = () => {};

  constructor(
    private readonly store: KeyStore,
    private readonly cache: KeyCache,
    private readonly now: () => number = Date.now,
  ) {}

  async generate(fields: KeyFields): Promise<Record<string, unknown>> {
    const key = generateKey();
    const t = this.now();
    const record = this.apply(newVirtualKey(hashKey(key), keyName(key), t), fields);
    await this.uniqueAlias(record);
    await aliasTaken(record, () => this.store.insert(record));
    this.cache.set(record);
    return { key, ...this.view(record) };
  }

  async info(keyOrToken: string): Promise<Record<string, unknown>> {
    const key = await this.find(keyOrToken);
    // Every replica's spend, not what this one last read: each replica answers the same.
    await this.spend?.refresh(key.token);
    return { key: keyOrToken, info: this.view(key) };
  }

  async update(keyOrToken: string, fields: KeyFields): Promise<Record<string, unknown>> {
    if (Object.keys(fields).length === 0) throw new GatewayError('TG_ERR_BAD_REQUEST', 'nothing to update: give at least one field');
    const current = await this.find(keyOrToken);
    const next = this.apply({ ...current, updatedAt: this.now() }, fields);
    await this.uniqueAlias(next);
    await aliasTaken(next, () => this.store.save(next));
    this.cache.set(next);
    this.announce([next.token]);
    return { key: keyOrToken, ...this.view(next) };
  }

  /** A new secret for the same key record; the old secret stops working at once. */
  async regenerate(keyOrToken: string, fields: KeyFields): Promise<Record<string, unknown>> {
    const current = await this.find(keyOrToken);
    const key = generateKey();
    // Spend is counted per token: carry the window's spend over so a new secret is not a new budget.
    const carried = current.budgetSpendOffset - (this.spend?.keySpend(current.token) ?? 0n);
    const next = this.apply({ ...current, token: hashKey(key), keyName: keyName(key), budgetSpendOffset: carried, updatedAt: this.now() }, fields);
    await this.uniqueAlias(next, current.token);
    await this.store.save(next, current.token);
    this.cache.invalidate(current.token);
    this.cache.set(next);
    this.announce([current.token]);
    return { key, ...this.view(next) };
  }

  async delete(body: { keys?: string[]; key_aliases?: string[] }): Promise<Record<string, unknown>> {
    if (!body.keys?.length && !body.key_aliases?.length) throw new GatewayError('TG_ERR_BAD_REQUEST', 'give the keys to delete in keys or key_aliases');
    const found: { given: string; token: string }[] = [];
    for (const given of body.keys ?? []) {
      const k = await this.store.get(toToken(given));
      if (k) found.push({ given, token: k.token });
    }
    for (const alias of body.key_aliases ?? []) {
      const k = await this.store.getByAlias(alias);
      if (k) found.push({ given: alias, token: k.token });
    }
    if (found.length === 0) throw new GatewayError('TG_ERR_NOT_FOUND', 'no such key');
    await this.store.delete(found.map((f) => f.token));
    for (const f of found) this.cache.invalidate(f.token);
    this.announce(found.map((f) => f.token));
    return { deleted_keys: found.map((f) => f.given) };
  }

  async list(query: URLSearchParams): Promise<Record<string, unknown>> {
    const page = positiveInt(query.get('page'), 1, 'page');
    const size = Math.min(positiveInt(query.get('size') ?? query.get('page_size'), 10, 'size'), 100);
    const { keys, total } = await this.store.list({
      offset: (page - 1) * size,
      limit: size,
      userId: query.get('user_id') ?? undefined,
      teamId: query.get('team_id') ?? undefined,
      alias: query.get('key_alias') ?? undefined,
      search: query.get('search') || undefined,
    });
    const full = query.get('return_full_object') === 'true';
    return { keys: full ? keys.map((k) => this.view(k)) : keys.map((k) => k.token), total_count: total, current_page: page, total_pages: Math.ceil(total / size) };
  }

  async find(keyOrToken: string): Promise<VirtualKey> {
    const key = await this.store.get(toToken(keyOrToken));
    if (!key) throw new GatewayError('TG_ERR_NOT_FOUND', 'no such key');
    return key;
  }

  /** The key as the admin API shows it (LiteLLM's field names); never the secret. */
  view(k: VirtualKey): Record<string, unknown> {
    return {
      token: k.token,
      key_name: k.keyName,
      key_alias: k.keyAlias,
      spend: picoToNumber(windowSpend(k, this.spend)),
      max_budget: k.maxBudget === null ? null : Number(k.maxBudget),
      budget_duration: k.budgetDuration,
      budget_reset_at: iso(k.budgetResetAt),
      expires: iso(k.expires),
      models: k.models,
      user_id: k.userId,
      team_id: k.teamId,
      metadata: k.metadata,
      rpm_limit: k.rpmLimit,
      tpm_limit: k.tpmLimit,
      max_parallel_requests: k.maxParallelRequests,
      blocked: k.blocked,
      created_at: iso(k.createdAt),
      updated_at: iso(k.updatedAt),
    };
  }

  private apply(k: VirtualKey, f: KeyFields): VirtualKey {
    const t = this.now();
    const next = { ...k };
    if (f.models !== undefined) next.models = f.models;
    if (f.key_alias !== undefined) next.keyAlias = f.key_alias;
    if (f.user_id !== undefined) next.userId = f.user_id;
    if (f.team_id !== undefined) next.teamId = f.team_id;
    if (f.metadata !== undefined) next.metadata = f.metadata;
    if (f.rpm_limit !== undefined) next.rpmLimit = f.rpm_limit;
    if (f.tpm_limit !== undefined) next.tpmLimit = f.tpm_limit;
    if (f.max_parallel_requests !== undefined) next.maxParallelRequests = f.max_parallel_requests;
    if (f.blocked !== undefined) next.blocked = f.blocked;
    if (f.duration !== undefined) next.expires = f.duration === null ? null : after(t, f.duration, 'duration');
    if (f.max_budget !== undefined) {
      if (f.max_budget !== null && !this.spend) {
        throw new GatewayError('TG_ERR_BAD_REQUEST', 'max_budget needs a cost plugin (@tollgate/plugin-cost) to count spend, and none is loaded');
      }
      next.maxBudget = f.max_budget === null ? null : picoToUsd(toPico(f.max_budget));
    }
    if (f.budget_duration !== undefined) {
      next.budgetDuration = f.budget_duration;
      next.budgetResetAt = f.budget_duration === null ? null : after(t, f.budget_duration, 'budget_duration');
      next.budgetSpendOffset = this.spend ? this.spend.keySpend(next.token) : 0n;
    }
    return next;
  }

  private async uniqueAlias(k: VirtualKey, previousToken = k.token): Promise<void> {
    if (k.keyAlias === null) return;
    const other = await this.store.getByAlias(k.keyAlias);
    if (other && other.token !== previousToken) throw new GatewayError('TG_ERR_BAD_REQUEST', `key_alias "${k.keyAlias}" is already taken`);
  }
}

/** Two writers racing for one alias: the database's unique index decides, as a 400. */
async function aliasTaken(k: VirtualKey, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (k.keyAlias !== null && (e.code === '23505' || /UNIQUE constraint failed: tollgate_keys\.key_alias/.test(e.message ?? ''))) {
      throw new GatewayError('TG_ERR_BAD_REQUEST', `key_alias "${k.keyAlias}" is already taken`);
    }
    throw err;
  }
}

export function toToken(keyOrToken: string): string {
  return isKeyHash(keyOrToken) ? keyOrToken : hashKey(keyOrToken);
}

function toPico(usd: number): Pico {
  try {
    return usdToPico(usd);
  } catch {
    throw new GatewayError('TG_ERR_BAD_REQUEST', 'max_budget must be a USD amount with at most 12 decimals');
  }
}

function positiveInt(text: string | null, fallback: number, name: string): number {
  if (text === null) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new GatewayError('TG_ERR_BAD_REQUEST', `${name} must be a positive integer`);
  return n;
}

/** The latest time a JavaScript Date (and an ISO timestamp) can hold. */
const MAX_TIME_MS = 8.64e15;

/** `t` plus a validated duration; one that ends past what a date can hold is a 400, not a 500. */
function after(t: number, duration: string, field: string): number {
  const at = addDuration(t, parseDuration(duration)!);
  if (!(at <= MAX_TIME_MS)) throw new GatewayError('TG_ERR_BAD_REQUEST', `${field} ${duration} is too long: it would end past the last date a timestamp can hold`);
  return at;
}
