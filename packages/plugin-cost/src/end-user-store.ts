import type { Kysely, Migration, Storage } from '@tollgate/storage';

/** An end user as an admin made it (`/customer/new`): LiteLLM's customer. */
export interface EndUser {
  userId: string;
  alias: string | null;
  blocked: boolean;
  /** Exact decimal USD as given, or null for no budget. */
  maxBudget: string | null;
  budgetDuration: string | null;
  /** Epoch ms (a UTC midnight) the first budget window began: when `budget_duration` was set. */
  budgetStart: number | null;
  createdAt: number;
  updatedAt: number;
}

type EndUserRow = {
  user_id: string;
  alias: string | null;
  blocked: number;
  max_budget: string | null;
  budget_duration: string | null;
  budget_start: number | string | null;
  created_at: number | string;
  updated_at: number | string;
};

type Tables = { tollgate_end_users: EndUserRow };

export const endUserMigrations: Record<string, Migration> = {
  '013_end_users': {
    // End users with a budget or a block are few next to the ledger (an admin makes each): the
    // gateway holds those in memory and decides on them without a query.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tollgate_end_users')
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('alias', 'text')
        .addColumn('blocked', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_budget', 'text')
        .addColumn('budget_duration', 'text')
        .addColumn('budget_start', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};

/** The end users table in the shared storage (SQLite or PostgreSQL). */
export class EndUserStore {
  private readonly db: Kysely<Tables>;

  constructor(storage: Storage) {
    this.db = storage.db.withTables<Tables>() as unknown as Kysely<Tables>;
  }

  /** False when the user_id is taken. */
  async insert(u: EndUser): Promise<boolean> {
    const rows = await this.db.insertInto('tollgate_end_users').values(toRow(u)).onConflict((oc) => oc.column('user_id').doNothing()).returning('user_id').execute();
    return rows.length === 1;
  }

  async get(userId: string): Promise<EndUser | undefined> {
    const row = await this.db.selectFrom('tollgate_end_users').selectAll().where('user_id', '=', userId).executeTakeFirst();
    return row && fromRow(row);
  }

  async getMany(userIds: readonly string[]): Promise<EndUser[]> {
    if (userIds.length === 0) return [];
    const rows = await this.db.selectFrom('tollgate_end_users').selectAll().where('user_id', 'in', userIds).orderBy('user_id').execute();
    return rows.map(fromRow);
  }

  async save(u: EndUser): Promise<void> {
    await this.db.updateTable('tollgate_end_users').set(toRow(u)).where('user_id', '=', u.userId).execute();
  }

  /** The user_ids deleted. */
  async delete(userIds: readonly string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    const rows = await this.db.deleteFrom('tollgate_end_users').where('user_id', 'in', userIds).returning('user_id').execute();
    return rows.map((r) => r.user_id);
  }

  async list(): Promise<EndUser[]> {
    const rows = await this.db.selectFrom('tollgate_end_users').selectAll().orderBy('user_id').execute();
    return rows.map(fromRow);
  }

  /** The end users requests are checked against: those with a budget or a block. */
  async enforced(): Promise<EndUser[]> {
    const rows = await this.db
      .selectFrom('tollgate_end_users')
      .selectAll()
      .where((eb) => eb.or([eb('max_budget', 'is not', null), eb('blocked', '=', 1)]))
      .execute();
    return rows.map(fromRow);
  }
}

function toRow(u: EndUser): EndUserRow {
  return {
    user_id: u.userId,
    alias: u.alias,
    blocked: u.blocked ? 1 : 0,
    max_budget: u.maxBudget,
    budget_duration: u.budgetDuration,
    budget_start: u.budgetStart,
    created_at: u.createdAt,
    updated_at: u.updatedAt,
  };
}

function fromRow(r: EndUserRow): EndUser {
  return {
    userId: r.user_id,
    alias: r.alias,
    blocked: Number(r.blocked) === 1,
    maxBudget: r.max_budget,
    budgetDuration: r.budget_duration,
    budgetStart: r.budget_start === null ? null : Number(r.budget_start),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
