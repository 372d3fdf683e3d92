import { GatewayError, parseDuration, picoToUsd, usdToPico, windowAt, type Logger, type Pico, type RequestContext } from '@tollgate/core';
import type { EndUser, EndUserStore } from './end-user-store.js';
import type { LedgerStore } from './ledger-store.js';
import type { SpendRow } from './spend-row.js';

/** One end user requests are checked against (blocked, or with a budget), and its spend in the window. */
interface Entry {
  user: EndUser;
  /** Undefined: no budget (the entry is here for its block). */
  budget?: Pico;
  duration?: { months: number; ms: number };
  /** The current window, epoch ms: [start, end). All-time budgets: [0, Infinity). */
  start: number;
  end: number;
  /** Spend in the window as this instance counts it: the ledger when the entry was loaded, plus what it booked since. */
  own: Pico;
  /** Every replica's committed spend in the window at the last shared read, and `own` when that read began. */
  shared?: { spend: Pico; ownAt: Pico };
}

export interface EndUserBudgetsOptions {
  store: EndUserStore;
  ledger: LedgerStore;
  /** Resolves once the rows queued so far are written (or spooled). */
  flush(): Promise<void>;
  log: Logger;
  /** The clock budget windows roll on (tests). */
  now?: () => number;
}

/**
 * End-user budgets and blocks on the request path: every end user with a budget or a block is
 * held in memory (an admin makes each, so they are few), so a request whose end user has
 * neither costs one Map lookup. A budgeted end user's spend in its window is read from the
 * ledger once (at start, or when its budget is set) and then counted as each row is booked:
 * it is never evicted, unlike the bounded per-end-user running totals.
 *
 * Replicas sharing PostgreSQL call `refresh` every `sharedSpend.syncMs`: it reloads the end
 * users (so a budget or block set through another replica applies here) and reads every
 * replica's committed spend in each budget's window; an end user's spend is then that read
 * plus what this instance booked since it began.
 */
export class EndUserBudgets {
  private entries = new Map<string, Entry>();
  /** Bumped by every change made through this instance: a refresh that raced one keeps the entries as they are. */
  private changes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The last refresh failed (warned once per outage). */
  private failing = false;

  private readonly now: () => number;

  constructor(private readonly o: EndUserBudgetsOptions) {
    this.now = o.now ?? Date.now;
  }

  /** At start, before any row is booked or replayed: the end users to enforce, their spend not yet counted. */
  async load(): Promise<void> {
    const now = this.now();
    this.entries = new Map((await this.o.store.enforced()).map((u) => [u.userId, entryOf(u, now)]));
  }

  /** At start, after rows the database cannot take yet were counted (`add`): adds the ledger's spend in each window. */
  async loadSpend(): Promise<void> {
    for (const [entries, from] of byWindow([...this.entries.values()])) {
      const found = await this.o.ledger.endUserSpend(entries.map((e) => e.user.userId), from);
      for (const e of entries) e.own += found.get(e.user.userId) ?? 0n;
    }
  }

  /** Counts a booked row (a running-totals listener, and the replay of unwritten rows at start). */
  add(row: SpendRow): void {
    const e = this.entries.get(row.end_user!);
    if (!e || e.budget === undefined) return;
    roll(e, this.now());
    // As the ledger counts it: a row belongs to the window its request started in.
    if (row.start_time >= e.start) e.own += row.spend;
  }

  /**
   * An end user changed through this instance: enforced from now on (or no longer, when it has
   * neither budget nor block). A new budget window reads its spend so far from the ledger after
   * writing the rows queued so far; a row booked between the entry's creation and that write
   * may be counted twice (stricter, never looser).
   */
  async set(user: EndUser): Promise<void> {
    this.changes++;
    const id = user.userId;
    if (user.maxBudget === null && !user.blocked) return void this.entries.delete(id);
    const current = this.entries.get(id);
    if (current && !newWindow(current.user, user)) {
      Object.assign(current, { user, budget: budgetOf(user) });
      return;
    }
    const e = entryOf(user, this.now());
    this.entries.set(id, e);
    if (e.budget === undefined) return;
    await this.o.flush();
    const found = await this.o.ledger.endUserSpend([id], ledgerFrom(e));
    e.own += found.get(id) ?? 0n;
  }

  remove(userIds: readonly string[]): void {
    this.changes++;
    for (const id of userIds) this.entries.delete(id);
  }

  /**
   * Replicas: reloads the end users from the table and reads every replica's committed spend
   * in each window. Never rejects: a failure is logged, and the entries stay as they were.
   */
  async refresh(): Promise<void> {
    try {
      const changes = this.changes;
      const users = await this.o.store.enforced();
      if (changes === this.changes) this.reconcile(users);
      const now = this.now();
      for (const e of this.entries.values()) roll(e, now);
      for (const [entries, from] of byWindow([...this.entries.values()])) {
        const ownAt = entries.map((e) => e.own);
        const found = await this.o.ledger.endUserSpend(entries.map((e) => e.user.userId), from);
        entries.forEach((e, i) => {
          // A window that rolled, or an entry replaced, while reading: the read is not about it.
          if (this.entries.get(e.user.userId) === e && ledgerFrom(e) === from) e.shared = { spend: found.get(e.user.userId) ?? 0n, ownAt: ownAt[i]! };
        });
      }
      if (this.failing) this.o.log.info("reading the end users' budgets and spend from the database again");
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.o.log.warn({ err }, "could not read the end users' budgets and spend from the database; they stay as last read until it can");
      this.failing = true;
    }
  }

  /** Runs `refresh` every `everyMs`, each after the last has finished, until `close`. */
  start(everyMs: number): void {
    if (this.timer) return;
    const next = () => {
      this.timer = setTimeout(() => void this.refresh().finally(() => this.timer && next()), everyMs);
      this.timer.unref();
    };
    next();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Refuses a request whose end user is blocked, or over budget on a request that can spend. */
  check(ctx: RequestContext): void {
    const id = ctx.endUser;
    if (id === undefined) return;
    const e = this.entries.get(id);
    if (!e) return;
    // Waiting does not help: tell SDKs (Claude Code) not to retry.
    const noRetry = { headers: { 'x-should-retry': 'false' } };
    if (e.user.blocked) throw new GatewayError('TG_ERR_END_USER_BLOCKED', `end user ${JSON.stringify(id)} is blocked`, noRetry);
    if (e.budget === undefined || !canSpend(ctx)) return;
    roll(e, this.now());
    const spent = spentIn(e);
    if (spent < e.budget) return;
    const resets = e.end === Infinity ? 'it does not reset' : `it resets at ${new Date(e.end).toISOString()}`;
    throw new GatewayError('TG_ERR_BUDGET_EXCEEDED', `budget exceeded for end user ${JSON.stringify(id)}: spent $${picoToUsd(spent)} of its $${picoToUsd(e.budget)} budget (${resets})`, noRetry);
  }

  /** Whether the end user has a budget (the unpriced policy refuses what a budget could not count). */
  hasBudget(endUser: string | undefined): boolean {
    return endUser !== undefined && this.entries.get(endUser)?.budget !== undefined;
  }

  /** The budget window's spend and reset of an end user with a budget, as checks see it now. */
  window(endUser: string): { spend: Pico; resetAt: number | null } | undefined {
    const e = this.entries.get(endUser);
    if (!e || e.budget === undefined) return undefined;
    roll(e, this.now());
    return { spend: spentIn(e), resetAt: e.end === Infinity ? null : e.end };
  }

  private reconcile(users: EndUser[]): void {
    const now = this.now();
    const next = new Map<string, Entry>();
    for (const user of users) {
      const current = this.entries.get(user.userId);
      if (current && !newWindow(current.user, user)) next.set(user.userId, Object.assign(current, { user, budget: budgetOf(user) }));
      else next.set(user.userId, entryOf(user, now));
    }
    this.entries = next;
  }
}

/** Requests that can spend: messages and batch creates (not count_tokens, model lists, batch results or cancels). */
function canSpend(ctx: RequestContext): boolean {
  return ctx.route.kind === 'messages' || (ctx.route.kind === 'batches' && ctx.route.models.length > 0);
}

function entryOf(user: EndUser, now: number): Entry {
  const budget = budgetOf(user);
  const duration = user.budgetDuration === null ? undefined : parseDuration(user.budgetDuration);
  const e: Entry = { user, budget, duration, start: 0, end: Infinity, own: 0n };
  if (duration && user.budgetStart !== null) Object.assign(e, windowAt(user.budgetStart, duration, now));
  return e;
}

const budgetOf = (u: EndUser): Pico | undefined => (u.maxBudget === null ? undefined : usdToPico(u.maxBudget));

/** A change that starts counting afresh: a budget set or cleared, or a new window. */
function newWindow(a: EndUser, b: EndUser): boolean {
  return (a.maxBudget === null) !== (b.maxBudget === null) || a.budgetDuration !== b.budgetDuration || a.budgetStart !== b.budgetStart;
}

/** At a window's end, the next window starts at zero (and the last shared read was about the old one). */
function roll(e: Entry, now: number): void {
  if (now < e.end || !e.duration) return;
  Object.assign(e, windowAt(e.user.budgetStart!, e.duration, now), { own: 0n, shared: undefined });
}

function spentIn(e: Entry): Pico {
  if (!e.shared) return e.own;
  const shared = e.shared.spend + e.own - e.shared.ownAt;
  return shared > e.own ? shared : e.own;
}

/** Where the ledger read of an entry's window starts: undefined for all of it. */
const ledgerFrom = (e: Entry): number | undefined => (e.duration ? e.start : undefined);

/** Budgeted entries grouped by the start of their window, for one ledger read per group. */
function byWindow(entries: Entry[]): [Entry[], number | undefined][] {
  const groups = new Map<number | undefined, Entry[]>();
  for (const e of entries) {
    if (e.budget === undefined) continue;
    const from = ledgerFrom(e);
    const group = groups.get(from);
    if (group) group.push(e);
    else groups.set(from, [e]);
  }
  return [...groups].map(([from, es]) => [es, from]);
}
