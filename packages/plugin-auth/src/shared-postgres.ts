import type { Pico } from '@tollgate/core';
import { sql, type Kysely } from '@tollgate/storage';
import type { CounterVerdict, SharedAdmission, SharedCounters } from './shared-limits.js';

export interface PostgresCountersOptions {
  slotTtlMs: number;
  /** Longest a call may take, waiting for a connection included; then it fails (and the request is counted locally). */
  timeoutMs: number;
}

/** A key's spend counter goes after a day without spend; the next check seeds it from the ledger again. */
const SPEND_IDLE_MS = 86_400_000;

/**
 * The shared counters in PostgreSQL, in the tables and functions of migration
 * `010_shared_limits` (shared-postgres-schema.ts): one statement per admission
 * (`tollgate_limits_admit`), per ended request, per spend booked. `db` should be a pool of its
 * own (`storage.openPool`), so an admission neither waits behind the ledger's writes nor holds
 * their connections while the database stalls.
 *
 * Calls of one key from this replica can reach PostgreSQL out of order (a pool has several
 * connections, where Redis has one ordered connection): an admission therefore waits for this
 * replica's writes of its key still on their way (a request's tokens, its spend), so a
 * replica always sees its own finished requests.
 */
export class PostgresCounters implements SharedCounters {
  readonly name = 'PostgreSQL';
  /** Writes of a key still on their way: token → their settling. */
  private readonly writing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Kysely<any>,
    private readonly o: PostgresCountersOptions,
  ) {}

  async admit(a: SharedAdmission, slot: string | undefined): Promise<CounterVerdict> {
    const line = a.budgetLine === undefined ? null : a.budgetLine.toString();
    const run = async () => {
      await this.writing.get(a.token);
      const { rows } = await sql<{ verdict: CounterVerdict['verdict']; spend: string | null }>`
        select verdict, spend from tollgate_limits_admit(${a.token}, ${a.rpmLimit}, ${a.tpmLimit}, ${a.maxParallelRequests},
          ${line}::numeric, ${slot ?? null}::uuid, ${this.o.slotTtlMs})`.execute(this.db);
      const { verdict, spend } = rows[0]!;
      return { verdict, spend: spend === null ? undefined : BigInt(spend) };
    };
    return this.bounded(run());
  }

  async seedSpend(token: string, spend: Pico): Promise<Pico> {
    const { rows } = await this.bounded(
      sql<{ spend: string }>`insert into tollgate_limit_spend as s (token, spend, touched_at) values (${token}, ${spend.toString()}::numeric, clock_timestamp())
        on conflict (token) do update set touched_at = s.touched_at returning s.spend`.execute(this.db),
    );
    return BigInt(rows[0]!.spend);
  }

  async readSpend(token: string): Promise<Pico | undefined> {
    const { rows } = await this.bounded(sql<{ spend: string }>`select spend from tollgate_limit_spend where token = ${token}`.execute(this.db));
    return rows[0] === undefined ? undefined : BigInt(rows[0].spend);
  }

  bookSpend(token: string, spend: Pico): Promise<void> {
    return this.write(token, sql`update tollgate_limit_spend set spend = spend + ${spend.toString()}::numeric, touched_at = clock_timestamp() where token = ${token}`);
  }

  release(token: string, slot: string | undefined, tokens: number): Promise<void> {
    return this.write(token, sql`select tollgate_limits_release(${token}, ${slot ?? null}::uuid, ${tokens})`);
  }

  async refreshSlots(slots: Map<string, string>): Promise<void> {
    await this.bounded(
      sql`update tollgate_limit_slots s set expires_at = clock_timestamp() + ${this.o.slotTtlMs} * interval '1 millisecond'
        from unnest(${[...slots.values()]}::text[], ${[...slots.keys()]}::uuid[]) as h(token, slot) where s.token = h.token and s.slot = h.slot`.execute(this.db),
    );
  }

  async freeSlots(slots: Map<string, string>): Promise<void> {
    await this.bounded(
      sql`delete from tollgate_limit_slots s using unnest(${[...slots.values()]}::text[], ${[...slots.keys()]}::uuid[]) as h(token, slot)
        where s.token = h.token and s.slot = h.slot`.execute(this.db),
    );
  }

  async dropSpend(tokens: string[]): Promise<void> {
    await this.bounded(sql`delete from tollgate_limit_spend where token = any(${tokens}::text[])`.execute(this.db));
  }

  async sweep(): Promise<void> {
    await this.bounded(sql`select tollgate_limits_sweep(${SPEND_IDLE_MS})`.execute(this.db));
  }

  /** Runs a write of `token`'s counters; the key's next admission waits for it to settle. */
  private write(token: string, query: ReturnType<typeof sql>): Promise<void> {
    const done = this.bounded(query.execute(this.db)).then(() => undefined);
    const settled = Promise.all([this.writing.get(token), done.catch(() => undefined)]);
    this.writing.set(token, settled);
    void settled.then(() => {
      if (this.writing.get(token) === settled) this.writing.delete(token);
    });
    return done;
  }

  /** Fails a call that takes longer than `timeoutMs` (the query itself is ended by the pool's statement timeout). */
  private bounded<T>(call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    });
    call.catch(() => undefined); // a late failure after the deadline is not news
    return Promise.race([call, late]).finally(() => clearTimeout(timer));
  }
}
