import { ADMIN_GUARD, GatewayError, picoToNumber, picoToUsd, usdToPico, type Pico, type PluginApi, type RouteRequest } from '@tollgate/core';
import { parseCustomerBody, type CustomerFields } from './customer-requests.js';
import type { EndUserBudgets } from './end-user-budgets.js';
import type { EndUser, EndUserStore } from './end-user-store.js';
import { DAY_MS } from './ledger-rollups.js';
import type { LedgerStore } from './ledger-store.js';
import { badParam, readParams } from './spend-params.js';
import { SpendQueries } from './spend-queries.js';
import type { RunningTotals } from './spend-totals.js';
import { iso } from './spend-views.js';

export interface CustomerRouteDeps {
  store: EndUserStore;
  budgets: EndUserBudgets;
  ledger: LedgerStore;
  totals: RunningTotals;
}

/**
 * The `/customer/*` admin API (LiteLLM's name for end users), in LiteLLM's shapes: end users
 * with an alias, a block and a budget. Every route needs the master key (ADMIN_GUARD).
 */
export function registerCustomerRoutes(api: PluginApi<any>, deps: CustomerRouteDeps): void {
  const customers = new Customers(deps);
  const admin = (method: string, path: string, handler: (req: RouteRequest) => Promise<unknown>) =>
    api.route(method, path, async (req) => {
      if (!api.has(ADMIN_GUARD)) throw new GatewayError('TG_ERR_FORBIDDEN', 'end-user management needs the auth plugin');
      api.resolve(ADMIN_GUARD).requireAdmin(req);
      return { body: await handler(req) };
    });
  admin('POST', '/customer/new', async (req) => customers.create(parseCustomerBody('new', await req.json())));
  admin('POST', '/customer/update', async (req) => customers.update(parseCustomerBody('update', await req.json())));
  admin('POST', '/customer/delete', async (req) => customers.delete(parseCustomerBody('ids', await req.json()).user_ids));
  admin('POST', '/customer/block', async (req) => ({ blocked_users: await customers.block(parseCustomerBody('ids', await req.json()).user_ids, true) }));
  admin('POST', '/customer/unblock', async (req) => ({ unblocked_users: await customers.block(parseCustomerBody('ids', await req.json()).user_ids, false) }));
  admin('GET', '/customer/list', async (req) => {
    readParams(req.query, []);
    return customers.list();
  });
  admin('GET', '/customer/info', async (req) => {
    const id = readParams(req.query, ['end_user_id']).get('end_user_id');
    if (id === undefined) throw badParam('query parameter end_user_id is required');
    return customers.info(id);
  });
}

class Customers {
  private readonly queries: SpendQueries;

  constructor(private readonly d: CustomerRouteDeps) {
    this.queries = new SpendQueries(d.ledger.db, d.ledger.shape);
  }

  async create({ user_id: id, ...fields }: CustomerFields & { user_id: string }) {
    const now = Date.now();
    const user = apply({ userId: id, alias: null, blocked: false, maxBudget: null, budgetDuration: null, budgetStart: null, createdAt: now, updatedAt: now }, fields, now);
    if (!(await this.d.store.insert(user))) throw new GatewayError('TG_ERR_BAD_REQUEST', `end user ${JSON.stringify(id)} already exists: change it with /customer/update`);
    await this.d.budgets.set(user);
    return this.view(user, id, await this.allTime(id));
  }

  async update({ user_id: id, ...fields }: CustomerFields & { user_id: string }) {
    if (Object.keys(fields).length === 0) throw new GatewayError('TG_ERR_BAD_REQUEST', 'nothing to update: give at least one of alias, blocked, max_budget, budget_duration');
    const next = apply(await this.find(id), fields, Date.now());
    await this.d.store.save(next);
    await this.d.budgets.set(next);
    return this.view(next, id, await this.allTime(id));
  }

  /** All or nothing, as LiteLLM: one unknown id and none is deleted. */
  async delete(ids: string[]) {
    const found = new Set((await this.d.store.getMany(ids)).map((u) => u.userId));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) throw new GatewayError('TG_ERR_NOT_FOUND', `no such end user: ${missing.map((id) => JSON.stringify(id)).join(', ')}`);
    const deleted = await this.d.store.delete(ids);
    this.d.budgets.remove(deleted);
    return { deleted_customers: deleted.length, user_ids: deleted };
  }

  /** Blocking an end user never made creates it (LiteLLM's upsert); unblocking one skips it. */
  async block(ids: string[], blocked: boolean) {
    const out = [];
    for (const id of new Set(ids)) {
      const now = Date.now();
      let current = await this.d.store.get(id);
      if (!current && !blocked) continue;
      if (!current) {
        const made: EndUser = { userId: id, alias: null, blocked: true, maxBudget: null, budgetDuration: null, budgetStart: null, createdAt: now, updatedAt: now };
        // Made in between by another call: that one is changed instead.
        if (await this.d.store.insert(made)) current = made;
        else current = await this.find(id);
      }
      const next = current.blocked === blocked ? current : { ...current, blocked, updatedAt: now };
      if (next !== current) await this.d.store.save(next);
      await this.d.budgets.set(next);
      out.push(this.view(next, id, await this.allTime(id)));
    }
    return out;
  }

  async list() {
    const users = await this.d.store.list();
    const spend = await this.d.ledger.endUserSpend(users.map((u) => u.userId));
    return users.map((u) => this.view(u, u.userId, this.larger(u.userId, spend.get(u.userId) ?? 0n)));
  }

  /** An end user made by an admin, or only seen in the ledger (then with no alias, block or budget). */
  async info(id: string) {
    const [user, seen] = await Promise.all([this.d.store.get(id), this.queries.endUser(id)]);
    const spend = this.larger(id, seen.spend);
    if (!user && seen.requests === 0 && spend === 0n) throw new GatewayError('TG_ERR_NOT_FOUND', `no requests recorded for end user ${JSON.stringify(id)}`);
    return {
      ...this.view(user, id, spend),
      request_count: seen.requests,
      first_seen: seen.firstSeen === undefined ? null : iso(seen.firstSeen),
      last_seen: seen.lastSeen === undefined ? null : iso(seen.lastSeen),
    };
  }

  private async find(id: string): Promise<EndUser> {
    const user = await this.d.store.get(id);
    if (!user) throw new GatewayError('TG_ERR_NOT_FOUND', `no such end user: ${JSON.stringify(id)} (create it with /customer/new)`);
    return user;
  }

  private async allTime(id: string): Promise<Pico> {
    return this.larger(id, (await this.d.ledger.endUserSpend([id])).get(id) ?? 0n);
  }

  /**
   * The running total is in step with this instance's rows still queued; the database's sum has
   * every replica's written rows. Both are at most the truth: the larger counts nothing twice.
   */
  private larger(id: string, written: Pico): Pico {
    const own = this.d.totals.get('end_user', id);
    return own > written ? own : written;
  }

  /** All-time `spend`; the budget, and the spend it is compared to, in `litellm_budget_table`. */
  private view(u: EndUser | undefined, id: string, spend: Pico) {
    const budget = u && u.maxBudget !== null ? u.maxBudget : undefined;
    const w = budget === undefined ? undefined : this.d.budgets.window(id);
    return {
      user_id: id,
      alias: u?.alias ?? null,
      blocked: u?.blocked ?? false,
      spend: picoToNumber(spend),
      spend_exact: picoToUsd(spend),
      litellm_budget_table: budget !== undefined
        ? {
            max_budget: Number(budget),
            budget_duration: u!.budgetDuration,
            budget_reset_at: w?.resetAt ? iso(w.resetAt) : null,
            spend: w ? picoToNumber(w.spend) : null,
            spend_exact: w ? picoToUsd(w.spend) : null,
          }
        : null,
      created_at: u ? iso(u.createdAt) : null,
      updated_at: u ? iso(u.updatedAt) : null,
    };
  }
}

/**
 * Fields applied to an end user. Setting `budget_duration` starts a window at the start of
 * the current UTC day; clearing `max_budget` clears the duration too.
 */
function apply(u: EndUser, f: CustomerFields, now: number): EndUser {
  const next = { ...u, updatedAt: now };
  if (f.alias !== undefined) next.alias = f.alias;
  if (f.blocked !== undefined) next.blocked = f.blocked;
  if (f.max_budget !== undefined) next.maxBudget = f.max_budget === null ? null : picoToUsd(toPico(f.max_budget));
  const duration = f.budget_duration === undefined && f.max_budget === null ? null : f.budget_duration;
  if (duration !== undefined) {
    next.budgetDuration = duration;
    next.budgetStart = duration === null ? null : Math.floor(now / DAY_MS) * DAY_MS;
  }
  if (next.budgetDuration !== null && next.maxBudget === null) throw new GatewayError('TG_ERR_BAD_REQUEST', 'budget_duration needs a max_budget');
  return next;
}

function toPico(usd: number): Pico {
  try {
    return usdToPico(usd);
  } catch {
    throw new GatewayError('TG_ERR_BAD_REQUEST', 'max_budget must be a USD amount with at most 12 decimals');
  }
}
